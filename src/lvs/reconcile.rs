//! The reconciler: dump the kernel, diff against the desired state, apply the plan; the
//! sync daemons and the drains ride on the same passes. [`super::run`](fn@super::run) is the long-lived loop.
//!
//! Errors on single operations do not stop a pass: the rest of the plan is applied, the errors
//! are reported, and the next pass retries. "Already there" on an add and "already gone" on a
//! delete mean someone else converged it; the pass then re-dumps and diffs once more.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Lvs, VirtualKey};

use super::desired::{Desired, VipState, desired, desired_service};
use super::diff::{Op, Plan, apply_op, diff, diff_some};
use super::drain::{DrainBook, settle_all};
use super::model::Table;
use super::status::DirectorStatus;
use super::sync::{self, SyncOp};
use super::{Ipvs, LvsError};
use crate::health::RealTable;

/// What one reconcile pass did.
#[derive(Debug, Default)]
pub struct Report {
    /// Operations sent to the kernel (successful or not), in order.
    pub ops: Vec<Op>,
    pub applied: usize,
    pub errors: Vec<LvsError>,
    pub unmanaged: Vec<VirtualKey>,
    /// Sync daemon changes sent (full passes only).
    pub sync_ops: Vec<SyncOp>,
    /// Drains that ended in this pass (their real servers were deleted).
    pub drains_ended: usize,
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
    if old.services.len() != new.services.len() || old.sync != new.sync {
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
    drains: DrainBook,
    /// Whether this process configured the sync daemons (only then may it stop them).
    sync_owned: bool,
}

impl Reconciler {
    pub fn new(ipvs: Ipvs) -> Self {
        Self {
            ipvs,
            owned: BTreeSet::new(),
            vip: VipState::default(),
            cache: None,
            last: None,
            drains: DrainBook::default(),
            sync_owned: false,
        }
    }

    /// Whether a drain waits for its connections to end (the loop then polls them).
    pub fn drains_waiting(&self) -> bool {
        self.drains.is_waiting()
    }

    /// What the director knows now: the table as last read and changed, with drains and
    /// load (None until a pass has read the kernel).
    pub fn status(&self, lvs: &Lvs, now: Duration) -> Option<DirectorStatus> {
        let table = self.cache.as_ref()?;
        let want = self.last.as_ref().map(|(_, _, w)| w);
        Some(DirectorStatus::build(
            lvs,
            table,
            want,
            &self.drains,
            &self.vip,
            now,
        ))
    }

    pub fn ipvs(&mut self) -> &mut Ipvs {
        &mut self.ipvs
    }

    /// Dump the kernel and diff: the operations a pass would send (nothing is changed).
    pub fn plan(&mut self, lvs: &Lvs, health: &RealTable) -> Result<(Plan, Desired), LvsError> {
        let mut want = desired(lvs, health);
        let have = self.ipvs.dump()?;
        let mut drains = self.drains.clone();
        settle_all(&mut drains, lvs, &mut want, &have, Duration::ZERO, true);
        Ok((diff(&want, &have, &self.owned), want))
    }

    /// One full pass: dump, diff, apply. Fails only when the kernel cannot be read.
    pub fn reconcile(&mut self, lvs: &Lvs, health: &RealTable) -> Result<Report, LvsError> {
        self.last = None;
        self.pass(lvs, health, true, Duration::ZERO).map(|(r, _)| r)
    }

    /// The loop's pass. `full`: dump and diff everything (start, resync, after errors).
    /// Otherwise diff against the table as last read and changed by this process (no dump),
    /// and only the services whose config or real-server health changed since the last pass
    /// are rebuilt and compared, with the services whose drains wait (their real servers
    /// re-read from the kernel). Drift made by others is seen by full passes. `now` is the
    /// caller's monotonic clock (drain deadlines).
    pub fn update(
        &mut self,
        lvs: &Arc<Lvs>,
        health: &Arc<RealTable>,
        full: bool,
        now: Duration,
    ) -> Result<Report, LvsError> {
        if !full
            && self.cache.is_some()
            && let Some((last_lvs, last_health, _)) = &self.last
            && let Some(mut changed) = changed_services(last_lvs, lvs)
        {
            changed.extend(last_health.changed_services(health));
            return Ok(self.incremental(lvs, health, &changed, now));
        }
        self.last = None;
        let (report, want) = self.pass(lvs, health, full, now)?;
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
        now: Duration,
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
        let mut keys = changed.clone();
        keys.extend(self.drains.waiting().copied());
        // Capacity-aware spill is judged on counts read every poll, like a drain.
        let spilling = |s: &crate::config::LvsService| s.spill.is_some();
        keys.extend(lvs.services.iter().filter(|s| spilling(s)).map(|s| s.key));
        let mut refreshed = false;
        for s in lvs.services.iter().filter(|s| keys.contains(&s.key)) {
            if changed.contains(&s.key) {
                let d = desired_service(s, health);
                self.vip.update(s, &d);
                want.services.insert(s.key, d);
            }
            let Some(w) = want.services.get_mut(&s.key) else {
                continue;
            };
            // A drain (and a VIP's fullness) is judged on counts read now, not on the last
            // full dump.
            let mut fresh = false;
            if (!w.draining.is_empty() || spilling(s))
                && let Some(i) = table.services.iter().position(|(t, _)| t.conf.key == s.key)
            {
                let t0 = Instant::now();
                match self.ipvs.dests(&s.key) {
                    Ok(d) => {
                        table.services[i].1 = d;
                        fresh = true;
                        refreshed = true;
                    }
                    Err(e) => report.errors.push(e),
                }
                report.dump += t0.elapsed();
            }
            let have = table
                .services
                .iter()
                .find(|(t, _)| t.conf.key == s.key)
                .map_or(&[][..], |(_, d)| d.as_slice());
            report.drains_ended +=
                self.drains
                    .settle(&s.key, w, have, s.drain_deadline, now, fresh);
        }
        for op in diff_some(&want, &table, &keys) {
            match self.send(&op, &mut report) {
                Ok(()) => {
                    report.applied += 1;
                    apply_op(&mut table, &op);
                }
                Err(e) => report.errors.push(e),
            }
            report.ops.push(op);
        }
        if refreshed {
            self.vip.count_traffic(&table);
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
        now: Duration,
    ) -> Result<(Report, Desired), LvsError> {
        let started = Instant::now();
        let mut want = desired(lvs, health);
        let mut report = Report::default();
        let mut fresh = fresh || self.cache.is_none();
        let mut failed_delete: BTreeSet<VirtualKey> = BTreeSet::new();
        for round in 0..2 {
            let (mut table, dumped) = match self.cache.take() {
                Some(t) if !fresh => (t, false),
                _ => {
                    let t0 = Instant::now();
                    let t = self.ipvs.dump()?;
                    report.dump += t0.elapsed();
                    (t, true)
                }
            };
            report.drains_ended +=
                settle_all(&mut self.drains, lvs, &mut want, &table, now, dumped);
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
        self.sync_daemons(lvs, &mut report);
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

impl Reconciler {
    /// Bring the sync daemons to `[lvs] sync` (full passes: they cost one dump).
    fn sync_daemons(&mut self, lvs: &Lvs, report: &mut Report) {
        let have = match self.ipvs.daemons() {
            Ok(h) => h,
            Err(e) => {
                report.errors.push(e);
                return;
            }
        };
        let mut failed = false;
        for op in sync::plan(lvs.sync.as_ref(), &have, self.sync_owned) {
            let r = match &op {
                SyncOp::Start(d) => self.ipvs.start_daemon(d),
                SyncOp::Stop(s) => self.ipvs.stop_daemon(*s),
            };
            if let Err(e) = r {
                failed = true;
                report.errors.push(e);
            }
            report.sync_ops.push(op);
        }
        // A daemon that could not be stopped stays ours, so the next pass retries.
        self.sync_owned = lvs.sync.is_some() || (self.sync_owned && failed);
    }
}

#[cfg(test)]
mod tests;
