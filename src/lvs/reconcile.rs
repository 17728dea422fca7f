//! The reconciler: dump the kernel, diff against the desired state, apply the plan; and
//! [`run`], the long-lived loop that does so on every config or health change and every
//! `resync` interval (the kernel sends no IPVS events, so drift is only seen by re-dumping).
//!
//! Errors on single operations do not stop a pass: the rest of the plan is applied, the errors
//! are reported, and the next pass retries. "Already there" on an add and "already gone" on a
//! delete mean someone else converged it; the pass then re-dumps and diffs once more.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Lvs, VirtualKey};

use super::desired::{Desired, VipState, desired, desired_service};
use super::diff::{Op, Plan, apply_op, diff, diff_some};
use super::model::Table;
use super::{Ipvs, LvsError, key_display};
use crate::health::RealTable;

/// What one reconcile pass did.
#[derive(Debug, Default)]
pub struct Report {
    /// Operations sent to the kernel (successful or not), in order.
    pub ops: Vec<Op>,
    pub applied: usize,
    pub errors: Vec<LvsError>,
    pub unmanaged: Vec<VirtualKey>,
    pub vip: VipState,
    /// Wall time of the pass, the part of it spent dumping the kernel table, and the part
    /// spent in the operations' netlink round trips.
    pub elapsed: Duration,
    pub dump: Duration,
    pub kernel: Duration,
}

/// Send one operation.
pub fn apply(ipvs: &mut Ipvs, op: &Op) -> Result<(), LvsError> {
    match op {
        Op::AddService(s) => ipvs.add_service(s),
        Op::EditService(s) => ipvs.edit_service(s),
        Op::DeleteService(k) => ipvs.delete_service(k),
        Op::AddDest { service, dest } => ipvs.add_dest(service, dest),
        Op::EditDest { service, dest } => ipvs.edit_dest(service, dest),
        Op::DeleteDest { service, addr } => ipvs.delete_dest(service, *addr),
    }
}

/// Whether an error means the kernel already is where the operation wanted it.
fn converged(op: &Op, e: &LvsError) -> bool {
    let errno = e.errno();
    match op {
        Op::AddService(_) | Op::AddDest { .. } => errno == Some(libc::EEXIST),
        Op::DeleteService(_) | Op::DeleteDest { .. } => {
            matches!(errno, Some(libc::ESRCH) | Some(libc::ENOENT))
        }
        // A service or real server that vanished under an edit: re-dump and add it.
        Op::EditService(_) | Op::EditDest { .. } => {
            matches!(errno, Some(libc::ESRCH) | Some(libc::ENOENT))
                && !matches!(e, LvsError::UnknownScheduler { .. })
        }
    }
}

/// The services whose config differs, when both configs list the same services in the same
/// order (None otherwise: services were added, removed or moved, which needs a full diff).
fn changed_services(old: &Arc<Lvs>, new: &Arc<Lvs>) -> Option<BTreeSet<VirtualKey>> {
    if Arc::ptr_eq(old, new) {
        return Some(BTreeSet::new());
    }
    if old.services.len() != new.services.len() {
        return None;
    }
    let mut out = BTreeSet::new();
    for (a, b) in old.services.iter().zip(&new.services) {
        if a.key != b.key {
            return None;
        }
        if a != b {
            out.insert(b.key);
        }
    }
    Some(out)
}

/// Owns the kernel connection, what this process manages, and the table as last read and
/// changed by it (so a health change costs only its own operations, not a full dump).
pub struct Reconciler {
    ipvs: Ipvs,
    owned: BTreeSet<VirtualKey>,
    vip: VipState,
    cache: Option<Table>,
    /// The inputs and desired state of the last clean pass (for incremental health changes).
    last: Option<(Arc<Lvs>, Arc<RealTable>, Desired)>,
}

impl Reconciler {
    pub fn new(ipvs: Ipvs) -> Self {
        Self {
            ipvs,
            owned: BTreeSet::new(),
            vip: VipState::default(),
            cache: None,
            last: None,
        }
    }

    pub fn ipvs(&mut self) -> &mut Ipvs {
        &mut self.ipvs
    }

    /// Dump the kernel and diff: the operations a pass would send (nothing is changed).
    pub fn plan(&mut self, lvs: &Lvs, health: &RealTable) -> Result<(Plan, Desired), LvsError> {
        let want = desired(lvs, health);
        let have = self.ipvs.dump()?;
        Ok((diff(&want, &have, &self.owned), want))
    }

    /// One full pass: dump, diff, apply. Fails only when the kernel cannot be read.
    pub fn reconcile(&mut self, lvs: &Lvs, health: &RealTable) -> Result<Report, LvsError> {
        self.last = None;
        self.pass(lvs, health, true).map(|(r, _)| r)
    }

    /// The loop's pass. `full`: dump and diff everything (start, resync, after errors).
    /// Otherwise diff against the table as last read and changed by this process (no dump),
    /// and only the services whose config or real-server health changed since the last pass
    /// are rebuilt and compared. Drift made by others is seen by full passes.
    pub fn update(
        &mut self,
        lvs: &Arc<Lvs>,
        health: &Arc<RealTable>,
        full: bool,
    ) -> Result<Report, LvsError> {
        if !full
            && self.cache.is_some()
            && let Some((last_lvs, last_health, _)) = &self.last
            && let Some(mut changed) = changed_services(last_lvs, lvs)
        {
            changed.extend(last_health.changed_services(health));
            return Ok(self.incremental(lvs, health, &changed));
        }
        self.last = None;
        let (report, want) = self.pass(lvs, health, full)?;
        if report.errors.is_empty() {
            self.last = Some((lvs.clone(), health.clone(), want));
        }
        Ok(report)
    }

    /// Send one operation, counting its round trip in `report.kernel`.
    #[allow(clippy::disallowed_methods)] // shell: measures its own pass for logs and the bench
    fn send(&mut self, op: &Op, report: &mut Report) -> Result<(), LvsError> {
        let t0 = Instant::now();
        let result = apply(&mut self.ipvs, op);
        report.kernel += t0.elapsed();
        result
    }

    #[allow(clippy::disallowed_methods)] // shell: measures its own pass for logs and the bench
    fn incremental(
        &mut self,
        lvs: &Arc<Lvs>,
        health: &Arc<RealTable>,
        changed: &BTreeSet<VirtualKey>,
    ) -> Report {
        let started = Instant::now();
        let mut report = Report::default();
        // The inputs this pass replaces are dropped only when it returns: freeing a replaced
        // configuration of thousands of real servers is not on the way to the kernel.
        let (Some(mut table), Some((_old_lvs, _old_health, mut want))) =
            (self.cache.take(), self.last.take())
        else {
            return report;
        };
        for s in lvs.services.iter().filter(|s| changed.contains(&s.key)) {
            let d = desired_service(s, health);
            self.vip.update(s, &d);
            want.services.insert(s.key, d);
        }
        for op in diff_some(&want, &table, changed) {
            match self.send(&op, &mut report) {
                Ok(()) => {
                    report.applied += 1;
                    apply_op(&mut table, &op);
                }
                Err(e) => report.errors.push(e),
            }
            report.ops.push(op);
        }
        // After an error the next pass starts from a fresh dump.
        if report.errors.is_empty() {
            self.cache = Some(table);
            self.last = Some((lvs.clone(), health.clone(), want));
        }
        report.vip = self.vip.clone();
        report.elapsed = started.elapsed();
        report
    }

    #[allow(clippy::disallowed_methods)] // shell: measures its own pass for logs and the bench
    fn pass(
        &mut self,
        lvs: &Lvs,
        health: &RealTable,
        fresh: bool,
    ) -> Result<(Report, Desired), LvsError> {
        let started = Instant::now();
        let want = desired(lvs, health);
        let mut report = Report::default();
        let mut fresh = fresh || self.cache.is_none();
        let mut failed_delete: BTreeSet<VirtualKey> = BTreeSet::new();
        for round in 0..2 {
            let mut table = match self.cache.take() {
                Some(t) if !fresh => t,
                _ => {
                    let t0 = Instant::now();
                    let t = self.ipvs.dump()?;
                    report.dump += t0.elapsed();
                    t
                }
            };
            let plan = diff(&want, &table, &self.owned);
            report.unmanaged = plan.unmanaged;
            let mut again = false;
            let mut clean = true;
            let mut failed_add: BTreeSet<VirtualKey> = BTreeSet::new();
            for op in plan.ops {
                if failed_add.contains(op.service()) {
                    continue;
                }
                match self.send(&op, &mut report) {
                    Ok(()) => {
                        report.applied += 1;
                        apply_op(&mut table, &op);
                    }
                    Err(e) if round == 0 && converged(&op, &e) => again = true,
                    Err(e) => {
                        clean = false;
                        match &op {
                            Op::AddService(s) => {
                                failed_add.insert(s.key);
                            }
                            Op::DeleteService(k) => {
                                failed_delete.insert(*k);
                            }
                            _ => {}
                        }
                        report.errors.push(e);
                    }
                }
                report.ops.push(op);
            }
            if clean && !again {
                self.cache = Some(table);
            }
            if !again {
                break;
            }
            fresh = true;
        }
        // Services we could not delete stay owned, so the next pass retries.
        let mut owned: BTreeSet<VirtualKey> = lvs.services.iter().map(|s| s.key).collect();
        owned.extend(failed_delete);
        self.owned = owned;
        self.vip = self.vip.next(lvs, &want);
        if let Some(table) = &self.cache {
            self.vip.count_traffic(table);
        }
        report.vip = self.vip.clone();
        report.elapsed = started.elapsed();
        Ok((report, want))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LvsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LvsError::Task(e.to_string()))
}

fn log_report(r: &Report) {
    use crate::metrics::{METRICS, inc};
    use std::sync::atomic::Ordering::Relaxed;
    inc(&METRICS.lvs_reconciles);
    METRICS.lvs_ops.fetch_add(r.ops.len() as u64, Relaxed);
    METRICS.lvs_errors.fetch_add(r.errors.len() as u64, Relaxed);
    if r.ops.is_empty() {
        tracing::debug!(
            ops = 0,
            elapsed_us = u64::try_from(r.elapsed.as_micros()).unwrap_or(u64::MAX),
            "ipvs table in sync"
        );
    } else {
        tracing::info!(
            ops = r.ops.len(),
            failed = r.errors.len(),
            elapsed_us = u64::try_from(r.elapsed.as_micros()).unwrap_or(u64::MAX),
            dump_us = u64::try_from(r.dump.as_micros()).unwrap_or(u64::MAX),
            kernel_us = u64::try_from(r.kernel.as_micros()).unwrap_or(u64::MAX),
            "ipvs reconciled"
        );
    }
    for op in &r.ops {
        tracing::info!(op = %op, "ipvs change");
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
/// `resync`; publish each VIP's up/down on `vip`. Returns when `shutdown` is cancelled, or
/// with an error when IPVS cannot be opened.
pub async fn run(
    mut config: watch::Receiver<Arc<Lvs>>,
    mut health: watch::Receiver<Arc<RealTable>>,
    vip: watch::Sender<VipState>,
    shutdown: CancellationToken,
) -> Result<(), LvsError> {
    let ipvs = blocking(Ipvs::open).await??;
    let mut rec = Some(Reconciler::new(ipvs));
    let (mut config_open, mut health_open) = (true, true);
    let mut failures = 0u32;
    // Full passes (with a dump) at start and on the resync timer; changes use the cache.
    let mut full = true;
    let mut next_full = tokio::time::Instant::now();
    loop {
        let lvs = config.borrow_and_update().clone();
        let view = health.borrow_and_update().clone();
        let mut r = rec
            .take()
            .ok_or_else(|| LvsError::Task("reconciler lost".into()))?;
        let (r, outcome) = blocking(move || {
            let out = r.update(&lvs, &view, full);
            (r, out)
        })
        .await?;
        rec = Some(r);
        let resync = config.borrow().resync.max(Duration::from_millis(100));
        let now = tokio::time::Instant::now();
        if full {
            next_full = now + resync;
        }
        let wait = match outcome {
            Ok(report) => {
                log_report(&report);
                vip.send_if_modified(|v| {
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
        // After a failure the cache is gone anyway; the retry is a full pass.
        full = failures > 0;
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            r = config.changed(), if config_open => config_open = r.is_ok(),
            r = health.changed(), if health_open => health_open = r.is_ok(),
            () = tokio::time::sleep_until(wait) => full = true,
        }
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
    fn config_changes_found_per_service() {
        use crate::lvs::desired::tests::{lvs, svc};
        let a = svc("10.0.0.1:80", &[("10.1.0.1:80", 5)]);
        let b = svc("10.0.0.2:80", &[("10.1.0.2:80", 5)]);
        let old = Arc::new(lvs(vec![a.clone(), b.clone()]));
        assert_eq!(changed_services(&old, &old), Some(BTreeSet::new()));
        let mut b2 = b.clone();
        b2.reals[0].weight = 6;
        let new = Arc::new(lvs(vec![a.clone(), b2]));
        assert_eq!(changed_services(&old, &new), Some([b.key].into()));
        // added, removed or reordered services need the full diff
        assert_eq!(
            changed_services(&old, &Arc::new(lvs(vec![a.clone()]))),
            None
        );
        assert_eq!(changed_services(&old, &Arc::new(lvs(vec![b, a]))), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let r = Duration::from_secs(30);
        assert_eq!(backoff(1, r), Duration::from_secs(1));
        assert_eq!(backoff(3, r), Duration::from_secs(4));
        assert_eq!(backoff(50, r), r);
    }
}
