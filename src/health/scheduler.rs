//! The probe scheduler: one lightweight task per [`ProbeKey`], results folded into rise/fall
//! state by a single owner task, views published on change.
//!
//! Probe tasks start at a random offset within their interval (10 000 targets must not fire
//! at once), wait for a permit from a shared semaphore (bounded concurrency), run their
//! [`Monitor`] and send the result over a bounded channel. The owner ([`Scheduler::run`]) keeps
//! every [`Health`], and when one changes state it logs one line and publishes a new
//! `Arc<HealthView>` with the next generation (changes that come within `publish_gap` of the
//! last view are published together at its end). Results that change nothing publish nothing.
//! A new target set (reload) keeps the state and the task of every key that remains.
//! Overrides are set through the [`HealthHandle`]; run-time ones are saved to the state file
//! before they take effect, so a failed save changes nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Override;

use super::HealthError;
use super::handle::{Command, HealthHandle};
use super::monitor::{HttpClients, Monitor};
use super::overrides::Overrides;
use super::state::{Health, ProbeResult};
use super::statefile::{self, SavedProbe, StateFile};
use super::targets::{ProbeKey, TargetSet};
use super::verdict::Status;
use super::view::{HealthView, ProbeIndex, ProbeStatus};
use persist::restored_status;
use probe::{probe_loop, random_offset};

mod persist;
mod probe;

/// Shortest time between two saves of probe states to the state file.
const SAVE_GAP: Duration = Duration::from_secs(1);

/// Results folded in per wake-up; also the capacity of the result queue.
const DRAIN_BATCH: usize = 4096;

#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Probes in flight at once.
    pub max_concurrent: usize,
    /// Where run-time overrides are kept (`[health] state_file`).
    pub state_file: Option<PathBuf>,
    /// Overrides from the config file.
    pub configured_overrides: Vec<Override>,
    /// Shortest time between two views caused by probe results: changes inside it are
    /// published together at its end (an isolated change is published at once). Keeps a
    /// storm of changes (10 000 targets starting) from copying the view thousands of times.
    pub publish_gap: Duration,
    /// Told every probe result (changed or not) with the probe's status after it: the
    /// cluster republishes observations as long as they are confirmed.
    pub observer: Option<Observer>,
}

/// A callback for every probe result.
#[derive(Clone)]
pub struct Observer(pub Arc<ObserveFn>);

/// What an [`Observer`] calls.
pub type ObserveFn = dyn Fn(&ProbeKey, &ProbeStatus) + Send + Sync;

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            max_concurrent: 1024,
            state_file: None,
            configured_overrides: Vec::new(),
            publish_gap: Duration::from_millis(10),
            observer: None,
        }
    }
}

struct Probe {
    key: ProbeKey,
    slot: usize,
    health: Health,
    cancel: CancellationToken,
}

/// The owner task; see the module doc.
pub struct Scheduler {
    targets: watch::Receiver<TargetSet>,
    commands: mpsc::Receiver<Command>,
    view: watch::Sender<Arc<HealthView>>,
    overrides: Arc<Overrides>,
    state_file: Option<PathBuf>,
    max_concurrent: usize,
    publish_gap: Duration,
    last_publish: tokio::time::Instant,
    /// Probe results changed a state that no view shows yet.
    pending: bool,
    generation: u64,
    index: Arc<ProbeIndex>,
    statuses: Vec<ProbeStatus>,
    probes: HashMap<u64, Probe>,
    by_key: HashMap<ProbeKey, u64>,
    next_id: u64,
    /// Probe states from the state file, by [`ProbeKey::id`]; used once, at the first start.
    restored: HashMap<String, SavedProbe>,
    observer: Option<Observer>,
    /// A probe state changed since the state file was last written.
    unsaved: bool,
    last_save: tokio::time::Instant,
}

impl Scheduler {
    /// Loads run-time overrides from the state file and publishes the first view
    /// (generation 1, every target in its start state) before any probe runs.
    pub fn new(
        targets: TargetSet,
        options: SchedulerOptions,
    ) -> Result<(Scheduler, HealthHandle), HealthError> {
        let mut overrides = Overrides::from_config(&options.configured_overrides);
        let saved = match &options.state_file {
            Some(path) => StateFile::load_or_set_aside(path, SystemTime::now()),
            None => StateFile::default(),
        };
        overrides.set_runtime(saved.overrides);
        let (targets_tx, targets_rx) = watch::channel(targets);
        let (view_tx, view_rx) = watch::channel(Arc::new(HealthView::empty()));
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let mut scheduler = Scheduler {
            targets: targets_rx,
            commands: cmd_rx,
            view: view_tx,
            overrides: Arc::new(overrides),
            state_file: options.state_file,
            max_concurrent: options.max_concurrent.max(1),
            publish_gap: options.publish_gap,
            last_publish: tokio::time::Instant::now(),
            pending: false,
            generation: 0,
            index: Arc::default(),
            statuses: Vec::new(),
            probes: HashMap::new(),
            by_key: HashMap::new(),
            next_id: 0,
            restored: saved
                .probes
                .into_iter()
                .map(|p| (p.probe.clone(), p))
                .collect(),
            unsaved: false,
            last_save: tokio::time::Instant::now(),
            observer: options.observer,
        };
        let initial = scheduler.targets.borrow_and_update().clone();
        scheduler.adopt(&initial, true);
        scheduler.publish();
        let handle = HealthHandle {
            view: view_rx,
            targets: Arc::new(targets_tx),
            commands: cmd_tx,
        };
        Ok((scheduler, handle))
    }

    /// Probes until `shutdown`; an error means a probe task died, which is fatal.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), HealthError> {
        let (results_tx, mut results) = mpsc::channel::<(u64, ProbeResult)>(DRAIN_BATCH);
        let permits = Arc::new(Semaphore::new(self.max_concurrent));
        let clients = HttpClients::new();
        let mut tasks = JoinSet::new();
        let ids: Vec<u64> = self.probes.keys().copied().collect();
        let mut changed = false;
        for id in ids {
            changed |= self.spawn(id, &clients, &permits, &results_tx, &mut tasks);
        }
        if changed {
            self.publish();
        }
        let mut targets_open = true;
        let outcome = loop {
            let expiry = self.next_expiry();
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                changed = self.targets.changed(), if targets_open => {
                    if changed.is_err() {
                        targets_open = false;
                        continue;
                    }
                    let set = self.targets.borrow_and_update().clone();
                    for id in self.adopt(&set, false) {
                        self.spawn(id, &clients, &permits, &results_tx, &mut tasks);
                    }
                    self.publish();
                }
                Some(cmd) = self.commands.recv() => self.command(cmd).await,
                Some((id, result)) = results.recv() => {
                    let mut changed = self.observe(id, &result);
                    for _ in 1..DRAIN_BATCH {
                        match results.try_recv() {
                            Ok((id, result)) => changed |= self.observe(id, &result),
                            Err(_) => break,
                        }
                    }
                    self.pending |= changed;
                }
                _ = tokio::time::sleep_until(self.last_publish + self.publish_gap),
                    if self.pending => self.publish(),
                _ = tokio::time::sleep_until(self.last_save + SAVE_GAP),
                    if self.unsaved && self.state_file.is_some() => self.save_probes().await,
                _ = sleep_until_opt(expiry) => self.expire().await,
                Some(joined) = tasks.join_next() => {
                    if let Err(e) = joined && e.is_panic() {
                        tracing::error!(error = %e, "health probe task panicked");
                        break Err(HealthError::TaskFailed(e.to_string()));
                    }
                }
            }
        };
        for probe in self.probes.values() {
            probe.cancel.cancel();
        }
        tasks.shutdown().await;
        if self.unsaved && self.state_file.is_some() {
            self.save_probes().await;
        }
        outcome
    }

    /// Makes the probe table match `set`; returns the ids of new probes (tasks to start).
    fn adopt(&mut self, set: &TargetSet, first: bool) -> Vec<u64> {
        let gone: Vec<u64> = self
            .probes
            .iter()
            .filter(|(_, p)| !set.contains(&p.key))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(p) = self.probes.remove(&id) {
                p.cancel.cancel();
                self.by_key.remove(&p.key);
            }
        }
        let mut added = Vec::new();
        let mut statuses = Vec::with_capacity(set.len());
        for (slot, key) in set.iter().enumerate() {
            if let Some(probe) = self.by_key.get(key).and_then(|id| self.probes.get_mut(id)) {
                statuses.push(
                    self.statuses
                        .get(probe.slot)
                        .cloned()
                        .unwrap_or_else(|| ProbeStatus::initial(probe.health.state())),
                );
                probe.slot = slot;
                continue;
            }
            // A state saved by the previous process counts at the first start; otherwise the
            // probe has no result yet and the authority uses the check's start state.
            let status = match self.restored.remove(&key.id()).filter(|_| first) {
                Some(saved) => restored_status(&saved),
                None => ProbeStatus::initial(Status::Unknown),
            };
            let initial = status.state;
            let id = self.next_id;
            self.next_id += 1;
            self.probes.insert(
                id,
                Probe {
                    key: key.clone(),
                    slot,
                    health: Health::new(key.check.rise, key.check.fall, initial),
                    cancel: CancellationToken::new(),
                },
            );
            self.by_key.insert(key.clone(), id);
            statuses.push(status);
            added.push(id);
        }
        self.statuses = statuses;
        let index = ProbeIndex::new(set.iter().cloned().collect());
        // Probes that stay keep their last probe time.
        for (slot, key) in set.iter().enumerate() {
            if let Some(ms) = self
                .index
                .slot(key)
                .and_then(|old| self.index.last_probe_ms(old))
            {
                index.record_probe(slot, ms);
            }
        }
        self.index = Arc::new(index);
        if !first {
            self.restored.clear();
        }
        added
    }

    fn spawn(
        &mut self,
        id: u64,
        clients: &HttpClients,
        permits: &Arc<Semaphore>,
        results: &mpsc::Sender<(u64, ProbeResult)>,
        tasks: &mut JoinSet<()>,
    ) -> bool {
        let Some(probe) = self.probes.get_mut(&id) else {
            return false;
        };
        let monitor = match Monitor::new(probe.key.clone(), clients) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(addr = %probe.key.addr, check = probe.key.kind_name(), error = %e,
                    "cannot start health probe; target stays down");
                // Straight to down, whatever the thresholds and the start state say.
                probe.health = Health::new(1, 1, Status::Unknown);
                let result = ProbeResult::down(format!("invalid check: {e}"), Duration::ZERO);
                return self.observe(id, &result);
            }
        };
        let check = &probe.key.check;
        let offset = random_offset(check.interval);
        tasks.spawn(probe_loop(
            id,
            monitor,
            check.interval,
            offset,
            permits.clone(),
            results.clone(),
            probe.cancel.clone(),
        ));
        false
    }

    /// Folds one result in; true if the state changed.
    fn observe(&mut self, id: u64, result: &ProbeResult) -> bool {
        // A result from a task removed by a reload has no probe any more.
        let Some(probe) = self.probes.get_mut(&id) else {
            return false;
        };
        let now = tokio::time::Instant::now().into_std();
        let started = SystemTime::now()
            .checked_sub(result.elapsed)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.index
            .record_probe(probe.slot, statefile::unix_ms(started));
        crate::metrics::probe(probe.key.kind_name(), result.up, result.elapsed);
        let changed = match probe.health.observe(result, now) {
            None => false,
            Some(tr) => {
                crate::metrics::transition(probe.key.kind_name(), tr.to.as_str());
                tracing::info!(
                    addr = %probe.key.addr,
                    check = probe.key.kind_name(),
                    from = %tr.from,
                    to = %tr.to,
                    reason = %tr.reason,
                    "health state changed"
                );
                if let Some(status) = self.statuses.get_mut(probe.slot) {
                    *status = ProbeStatus {
                        state: tr.to,
                        since: Some(tr.at),
                        reason: tr.reason,
                    };
                }
                self.unsaved = true;
                true
            }
        };
        if let (Some(obs), Some(status)) = (&self.observer, self.statuses.get(probe.slot)) {
            (obs.0)(&probe.key, status);
        }
        changed
    }

    fn publish(&mut self) {
        self.pending = false;
        self.last_publish = tokio::time::Instant::now();
        self.generation += 1;
        let view = HealthView::new(
            self.generation,
            self.index.clone(),
            self.statuses.clone(),
            self.overrides.clone(),
        );
        self.view.send_replace(Arc::new(view));
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
