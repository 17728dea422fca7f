//! Keeping the UDP threads alive: a worker that panics or returns before shutdown is logged,
//! counted (`meridian_dns_udp_thread_restarts_total`) and started again on the same socket
//! after a backoff (100 ms, doubling to 5 s; back to 100 ms once a run lasted a minute). A
//! socket is never left without its thread, and the process never loses one silently.
//!
//! The loop runs on the worker's own thread (`catch_unwind` around each run), so a restart
//! costs no thread creation. The clock and the sleep are parameters, so the policy is tested
//! without waiting.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// When to restart.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// A run at least this long resets the delay to `first`.
    pub healthy_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(5),
            healthy_after: Duration::from_secs(60),
        }
    }
}

/// The text of a panic payload.
fn panic_text(p: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Runs `work` until `stopped()` holds when it ends; every other end is a restart after
/// `sleep(delay)`. `on_restart` is told each one (the delay and why). Returns the restarts.
pub fn supervise(
    name: &str,
    stopped: impl Fn() -> bool,
    mut work: impl FnMut(),
    policy: Backoff,
    mut sleep: impl FnMut(Duration),
    now: impl Fn() -> Instant,
    mut on_restart: impl FnMut(Duration, &str),
) -> u32 {
    let mut restarts = 0u32;
    let mut delay = policy.first;
    loop {
        let started = now();
        let ended = catch_unwind(AssertUnwindSafe(&mut work));
        if stopped() {
            return restarts;
        }
        let why = match &ended {
            Ok(()) => "returned before shutdown".to_string(),
            Err(p) => format!("panicked: {}", panic_text(p.as_ref())),
        };
        if now().saturating_duration_since(started) >= policy.healthy_after {
            delay = policy.first;
        }
        restarts = restarts.saturating_add(1);
        crate::metrics::inc(&crate::metrics::METRICS.udp_thread_restarts);
        tracing::error!(
            thread = name,
            restart_in_ms = delay.as_millis() as u64,
            restarts,
            "udp thread {why}: restarting it"
        );
        on_restart(delay, &why);
        sleep(delay);
        if stopped() {
            return restarts;
        }
        delay = (delay * 2).min(policy.max);
    }
}

/// A sleep that ends early once `stopped()` holds (checked every 50 ms), so shutdown never
/// waits for a backoff.
#[allow(clippy::disallowed_methods)] // shell: a real sleep
pub fn sleep_unless(stopped: &impl Fn() -> bool, d: Duration) {
    let end = Instant::now() + d;
    while !stopped() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a fake clock starts somewhere
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;

    /// A worker that panics twice, returns early once, then runs until stopped: restarted
    /// three times with doubling delays, each reason reported, the counter moved.
    #[test]
    fn a_panicking_worker_is_restarted_with_backoff_until_stopped() {
        let runs = Cell::new(0u32);
        let stop = Cell::new(false);
        let clock = Cell::new(Instant::now());
        let slept = RefCell::new(Vec::new());
        let reasons = RefCell::new(Vec::new());
        let before = crate::metrics::METRICS
            .udp_thread_restarts
            .load(std::sync::atomic::Ordering::Relaxed);
        let restarts = supervise(
            "test",
            || stop.get(),
            || {
                runs.set(runs.get() + 1);
                match runs.get() {
                    1 | 2 => panic!("injected failure {}", runs.get()),
                    3 => {}
                    _ => stop.set(true),
                }
            },
            Backoff::default(),
            |d| {
                slept.borrow_mut().push(d);
                clock.set(clock.get() + d);
            },
            || clock.get(),
            |_, why| reasons.borrow_mut().push(why.to_string()),
        );
        assert_eq!((restarts, runs.get()), (3, 4));
        let ms: Vec<u128> = slept.borrow().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400]);
        let reasons = reasons.into_inner();
        assert!(
            reasons[0].contains("panicked: injected failure 1"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].contains("returned before shutdown"),
            "{reasons:?}"
        );
        let after = crate::metrics::METRICS
            .udp_thread_restarts
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(after >= before + 3, "{before} -> {after}");
    }

    /// The delay is capped, and a run longer than `healthy_after` resets it.
    #[test]
    fn the_delay_is_capped_and_reset_after_a_healthy_run() {
        let runs = Cell::new(0u32);
        let clock = Cell::new(Instant::now());
        let slept = RefCell::new(Vec::new());
        let policy = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(4),
            healthy_after: Duration::from_secs(60),
        };
        supervise(
            "test",
            || runs.get() >= 7,
            || {
                runs.set(runs.get() + 1);
                if runs.get() == 5 {
                    // A long, healthy run before this failure.
                    clock.set(clock.get() + Duration::from_secs(120));
                }
            },
            policy,
            |d| {
                slept.borrow_mut().push(d.as_secs());
                clock.set(clock.get() + d);
            },
            || clock.get(),
            |_, _| {},
        );
        assert_eq!(slept.into_inner(), [1, 2, 4, 4, 1, 2]);
    }

    #[test]
    fn a_stopped_sleep_returns_at_once() {
        let t = Instant::now();
        sleep_unless(&|| true, Duration::from_secs(30));
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
