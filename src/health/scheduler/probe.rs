//! One probe task: waits for its start offset (a random point of its interval, so 10 000
//! targets do not fire at once), then on every tick takes a permit from the shared semaphore
//! (bounded concurrency), runs its monitor and sends the result to the scheduler.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::health::monitor::Monitor;
use crate::health::state::ProbeResult;

pub(super) fn random_offset(interval: Duration) -> Duration {
    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::random_range(0..nanos))
}

pub(super) async fn probe_loop(
    id: u64,
    monitor: Monitor,
    interval: Duration,
    offset: Duration,
    permits: Arc<Semaphore>,
    results: mpsc::Sender<(u64, ProbeResult)>,
    cancel: CancellationToken,
) {
    let interval = interval.max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = monitor.probe() => r,
        };
        drop(permit);
        if results.send((id, result)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_offsets_spread_within_the_interval() {
        let interval = Duration::from_secs(1);
        let offsets: Vec<Duration> = (0..1000).map(|_| random_offset(interval)).collect();
        assert!(offsets.iter().all(|o| *o < interval));
        // Spread, not bunched: both halves of the interval are used.
        let early = offsets.iter().filter(|o| **o < interval / 2).count();
        assert!(
            (300..700).contains(&early),
            "{early} of 1000 in the first half"
        );
        assert_eq!(random_offset(Duration::ZERO), Duration::ZERO);
    }
}
