//! The director loop: reconcile at start, on every config or health change and every
//! `resync` (the kernel sends no IPVS events, so drift is only seen by re-dumping); every
//! second while a drain waits for its connections or a service has `spill_at`; publish each VIP's state and the director's
//! status (table, drains, load figures) for DNS, the cluster, `/status` and the metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Lvs;
use crate::health::RealTable;

use super::desired::VipState;
use super::reconcile::{Reconciler, Report};
use super::status::DirectorStatus;
use super::{Ipvs, KernelThread, LvsError, key_display};

/// How often the real servers of a service with a waiting drain or `spill_at` are re-read.
pub const DRAIN_POLL: Duration = Duration::from_secs(1);

/// The status is rebuilt at most this often after passes that did not read the kernel.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// What the director publishes.
pub struct Outputs {
    /// Each VIP's up/down and load (read by the health authority and the cluster).
    pub vip: watch::Sender<VipState>,
    /// The table as the director knows it, with drains and statistics (`/status`).
    pub status: watch::Sender<Option<Arc<DirectorStatus>>>,
}

impl Outputs {
    /// Outputs nobody reads (`meridian lvs run`).
    pub fn detached() -> Outputs {
        Outputs {
            vip: watch::channel(VipState::default()).0,
            status: watch::channel(None).0,
        }
    }
}

/// What the director does when IPVS cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Return the error (`meridian lvs run`).
    Once,
    /// Log it and try again, 1 s, 2 s, 4 s ... up to 30 s apart (`serve`: DNS keeps serving).
    Retry,
}

/// Longest wait between two attempts at opening IPVS with [`Open::Retry`].
const OPEN_RETRY_MAX: Duration = Duration::from_secs(30);

/// Opens IPVS on `kernel`; None when `shutdown` came first.
async fn open(
    kernel: &KernelThread,
    mode: Open,
    shutdown: &CancellationToken,
) -> Result<Option<Ipvs>, LvsError> {
    let mut failures = 0u32;
    loop {
        match kernel.call(Ipvs::open).await? {
            Ok(ipvs) => {
                if failures > 0 {
                    tracing::info!(attempts = failures + 1, "IPVS opened");
                }
                return Ok(Some(ipvs));
            }
            Err(e) if mode == Open::Retry => {
                failures += 1;
                crate::metrics::inc(&crate::metrics::METRICS.lvs_errors);
                let wait = backoff(failures, OPEN_RETRY_MAX);
                tracing::error!(error = %e, retry_in_s = wait.as_secs(), "cannot open IPVS: the director waits, DNS keeps serving");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn log_report(r: &Report) {
    use crate::metrics::{METRICS, inc};
    use std::sync::atomic::Ordering::Relaxed;
    inc(&METRICS.lvs_reconciles);
    METRICS.lvs_ops.fetch_add(r.ops.len() as u64, Relaxed);
    METRICS.lvs_errors.fetch_add(r.errors.len() as u64, Relaxed);
    METRICS
        .lvs_drains_ended
        .fetch_add(r.drains_ended as u64, Relaxed);
    let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    if r.ops.is_empty() && r.sync_ops.is_empty() {
        tracing::debug!(ops = 0, elapsed_us = us(r.elapsed), "ipvs table in sync");
    } else {
        tracing::info!(
            ops = r.ops.len(),
            failed = r.errors.len(),
            elapsed_us = us(r.elapsed),
            dump_us = us(r.dump),
            kernel_us = us(r.kernel),
            "ipvs reconciled"
        );
    }
    for op in &r.ops {
        tracing::info!(op = %op, "ipvs change");
    }
    for op in &r.sync_ops {
        tracing::info!(op = %op, "ipvs sync daemon change");
    }
    if r.drains_ended > 0 {
        tracing::info!(ended = r.drains_ended, "drains ended: real servers deleted");
    }
    for e in &r.errors {
        tracing::warn!(error = %e, "ipvs operation failed; retrying on the next pass");
    }
    if !r.unmanaged.is_empty() {
        let list: Vec<String> = r.unmanaged.iter().map(key_display).collect();
        tracing::debug!(services = ?list, "kernel services not in the config, left alone");
    }
}

/// The director loop: reconcile at start, on every config or health change and every
/// `resync`; publish on `out`. Returns when `shutdown` is cancelled, or with an error when
/// IPVS cannot be opened.
pub async fn run(
    config: watch::Receiver<Arc<Lvs>>,
    health: watch::Receiver<Arc<RealTable>>,
    out: Outputs,
    shutdown: CancellationToken,
) -> Result<(), LvsError> {
    let kernel = KernelThread::spawn()?;
    run_on(&kernel, Open::Once, config, health, out, shutdown).await
}

/// As [`run`], with every netlink call on `kernel` and IPVS opened as `open` says.
#[allow(clippy::disallowed_methods)] // shell: the clock drain deadlines are measured on
pub async fn run_on(
    kernel: &KernelThread,
    open_mode: Open,
    mut config: watch::Receiver<Arc<Lvs>>,
    mut health: watch::Receiver<Arc<RealTable>>,
    out: Outputs,
    shutdown: CancellationToken,
) -> Result<(), LvsError> {
    let Some(ipvs) = open(kernel, open_mode, &shutdown).await? else {
        return Ok(());
    };
    let epoch = Instant::now();
    let mut rec = Some(Reconciler::new(ipvs));
    let (mut config_open, mut health_open) = (true, true);
    let mut failures = 0u32;
    // Full passes (with a dump) at start and on the resync timer; changes use the cache.
    let mut full = true;
    let mut next_full = tokio::time::Instant::now();
    let mut last_status = tokio::time::Instant::now();
    loop {
        let lvs = config.borrow_and_update().clone();
        let view = health.borrow_and_update().clone();
        let mut r = rec
            .take()
            .ok_or_else(|| LvsError::Task("reconciler lost".into()))?;
        let lvs2 = lvs.clone();
        let (r, outcome, waiting) = kernel
            .call(move || {
                let out = r.update(&lvs2, &view, full, epoch.elapsed());
                let waiting = r.drains_waiting();
                (r, out, waiting)
            })
            .await?;
        let resync = lvs.resync.max(Duration::from_millis(100));
        let now = tokio::time::Instant::now();
        if full {
            next_full = now + resync;
        }
        let read_kernel = match &outcome {
            Ok(report) => full || report.dump > Duration::ZERO || report.drains_ended > 0,
            Err(_) => false,
        };
        let wait = match outcome {
            Ok(report) => {
                log_report(&report);
                out.vip.send_if_modified(|v| {
                    let changed = *v != report.vip;
                    *v = report.vip.clone();
                    changed
                });
                failures = if report.errors.is_empty() {
                    0
                } else {
                    failures + 1
                };
                if failures == 0 {
                    next_full
                } else {
                    now + backoff(failures, resync)
                }
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "cannot read the IPVS table");
                now + backoff(failures, resync)
            }
        };
        // The status is a copy of the whole table: at once after a pass that read the
        // kernel, at most every STATUS_EVERY after health changes (a burst of them costs one).
        let mut status_due = true;
        if read_kernel || now >= last_status + STATUS_EVERY {
            publish_status(&r, &lvs, epoch.elapsed(), &out);
            last_status = now;
            status_due = false;
        }
        rec = Some(r);
        let mut wait = wait;
        let spill = lvs.services.iter().any(|s| s.spill.is_some());
        if (waiting || spill) && failures == 0 {
            wait = wait.min(now + DRAIN_POLL);
        }
        if status_due {
            wait = wait.min(last_status + STATUS_EVERY);
        }
        // After a failure the cache is gone anyway; the retry is a full pass.
        full = failures > 0;
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            r = config.changed(), if config_open => config_open = r.is_ok(),
            r = health.changed(), if health_open => health_open = r.is_ok(),
            () = tokio::time::sleep_until(wait) => {
                full = full || tokio::time::Instant::now() >= next_full;
            }
        }
    }
}

fn publish_status(rec: &Reconciler, lvs: &Lvs, now: Duration, out: &Outputs) {
    if let Some(s) = rec.status(lvs, now) {
        let s = Arc::new(s);
        super::status::publish(s.clone());
        out.status.send_replace(Some(s));
    }
}

/// 1 s, 2 s, 4 s ... capped at the resync interval.
fn backoff(failures: u32, resync: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(10);
    Duration::from_secs(1u64 << exp).min(resync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let r = Duration::from_secs(30);
        assert_eq!(backoff(1, r), Duration::from_secs(1));
        assert_eq!(backoff(3, r), Duration::from_secs(4));
        assert_eq!(backoff(50, r), r);
    }
}
