//! The I/O shell: [`Cluster::start`] binds the gossip socket and returns a [`ClusterHandle`]
//! (replace this node's report, read the cluster's view) and a [`ClusterTask`] to run. The task
//! runs chitchat over the sealed transport, writes this node's report into its own keys and
//! publishes a new [`ClusterView`] whenever something changes.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat::{
    ChitchatConfig, ChitchatId, FailureDetectorConfig, ProtocolVersion, spawn_chitchat,
};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::key::ClusterKey;
use super::publish::{Changed, Op, Publisher};
use super::report::{self, Observation, OverrideEntry, Report, Role, VipStatus};
use super::transport::{AeadTransport, Counters, TransportStats};
use super::view::{ClusterView, Tracker};
use crate::config;

/// chitchat's cluster id: the key already separates clusters, this only names the protocol.
const CLUSTER_ID: &str = "meridian";
/// A peer alive to the failure detector but silent for this many gossip intervals is suspect.
const SUSPECT_INTERVALS: u32 = 4;
/// The view is republished at least this often, so that heartbeat times stay current.
const VIEW_MAX_AGE: Duration = Duration::from_secs(1);
/// Phi above which chitchat declares a peer dead (its default): with heartbeats every gossip
/// interval, about 8 intervals of silence.
const PHI_THRESHOLD: f64 = 8.0;
/// A dead peer (and its overrides) is forgotten after this long.
const FORGET_DEAD_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Why the cluster could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster.listen {addr}: cannot bind the gossip socket: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gossip failed: {0}")]
    Gossip(String),
}

/// Starts a node.
pub struct Cluster;

impl Cluster {
    /// Bind `config.listen` (port 0 picks a free port, for tests) and prepare the task. Must be
    /// called inside a tokio runtime.
    pub fn start(
        config: &config::Cluster,
        key: ClusterKey,
        report: Report,
    ) -> Result<(ClusterHandle, ClusterTask), ClusterError> {
        let bind = |e| ClusterError::Bind {
            addr: config.listen,
            source: e,
        };
        let socket = std::net::UdpSocket::bind(config.listen).map_err(bind)?;
        socket.set_nonblocking(true).map_err(bind)?;
        let local_addr = socket.local_addr().map_err(bind)?;
        let now = Instant::now();
        let (view_tx, view_rx) = watch::channel(Arc::new(ClusterView::empty(
            &config.node,
            report.clone(),
            now,
        )));
        let shared = Arc::new(Shared {
            own: Mutex::new(Own {
                report,
                confirmed: HashMap::new(),
                dirty: BTreeSet::new(),
                all_dirty: true,
            }),
            changed: Notify::new(),
            counters: Arc::new(Counters::default()),
        });
        let handle = ClusterHandle {
            node: config.node.clone(),
            local_addr,
            shared: shared.clone(),
            view: view_rx,
        };
        let task = ClusterTask {
            config: config.clone(),
            key,
            socket,
            local_addr,
            shared,
            view: view_tx,
        };
        Ok((handle, task))
    }
}

struct Own {
    report: Report,
    /// When the caller last confirmed each observation and VIP report, by chitchat key.
    confirmed: HashMap<String, Instant>,
    /// Chitchat keys changed since the task last planned.
    dirty: BTreeSet<String>,
    /// Anything may have changed (a generic [`ClusterHandle::update`]).
    all_dirty: bool,
}

impl Own {
    /// Record a confirmation of `key` and, when `changed`, that it needs publishing. O(1)
    /// apart from the set of changed keys.
    fn touch(&mut self, key: String, now: Instant, changed: bool) -> bool {
        match self.confirmed.get_mut(&key) {
            Some(at) => *at = now,
            None => {
                self.confirmed.insert(key.clone(), now);
            }
        }
        if changed {
            self.dirty.insert(key);
        }
        changed
    }

    fn forget(&mut self, key: String) {
        self.confirmed.remove(&key);
        self.dirty.insert(key);
    }
}

struct Shared {
    own: Mutex<Own>,
    changed: Notify,
    counters: Arc<Counters>,
}

impl Shared {
    fn own(&self) -> MutexGuard<'_, Own> {
        // A panic while holding the lock leaves a complete report behind: keep using it.
        self.own
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The caller's side of a running node. Cheap to clone.
#[derive(Clone)]
pub struct ClusterHandle {
    node: String,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    view: watch::Receiver<Arc<ClusterView>>,
}

impl ClusterHandle {
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The bound gossip address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The latest view.
    pub fn view(&self) -> Arc<ClusterView> {
        self.view.borrow().clone()
    }

    /// A receiver that is notified at each new view.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.view.clone()
    }

    pub fn transport_stats(&self) -> TransportStats {
        self.shared.counters.snapshot()
    }

    /// Change this node's report in any way. Every observation and VIP status present
    /// afterwards counts as confirmed now (see [`ClusterHandle::set_observation`]), and every
    /// item is compared at the next publication: O(n), for rare changes. The setters below
    /// touch only their own item.
    pub fn update(&self, f: impl FnOnce(&mut Report)) {
        let now = Instant::now();
        {
            let mut own = self.shared.own();
            f(&mut own.report);
            let keys: Vec<String> = report::items(&own.report)
                .iter()
                .filter(|i| i.refreshable())
                .map(report::Item::key)
                .collect();
            own.confirmed = keys.into_iter().map(|k| (k, now)).collect();
            own.all_dirty = true;
        }
        self.shared.changed.notify_one();
    }

    /// Apply `f` to the report and mark `key` changed (no confirmation involved).
    fn change(&self, key: String, f: impl FnOnce(&mut Report)) {
        {
            let mut own = self.shared.own();
            f(&mut own.report);
            own.dirty.insert(key);
        }
        self.shared.changed.notify_one();
    }

    pub fn set_digest(&self, digest: impl Into<String>) {
        let digest = digest.into();
        self.change(report::Item::Digest(String::new()).key(), |r| {
            r.digest = digest
        });
    }

    pub fn set_role(&self, role: Role) {
        self.change(report::Item::Role(role).key(), |r| r.role = role);
    }

    /// Record this node's observation of `target`. Call it after every probe result, changed
    /// or not: it confirms the observation, and one that is no longer confirmed expires (the
    /// other nodes stop counting it). O(1); only a change wakes the gossip task.
    pub fn set_observation(&self, target: impl Into<String>, obs: Observation) {
        let target = target.into();
        let key = report::obs_key(&target);
        let changed = {
            let mut own = self.shared.own();
            let changed = own.report.observations.get(&target) != Some(&obs);
            if changed {
                own.report.observations.insert(target, obs);
            }
            own.touch(key, Instant::now(), changed)
        };
        if changed {
            self.shared.changed.notify_one();
        }
    }

    pub fn remove_observation(&self, target: &str) {
        {
            let mut own = self.shared.own();
            own.report.observations.remove(target);
            own.forget(report::obs_key(target));
        }
        self.shared.changed.notify_one();
    }

    /// Record the status of one of this director's VIPs (confirmed like an observation).
    pub fn set_vip(&self, vip: impl Into<String>, status: VipStatus) {
        let vip = vip.into();
        let key = report::vip_key(&vip);
        let changed = {
            let mut own = self.shared.own();
            let changed = own.report.vips.get(&vip) != Some(&status);
            if changed {
                own.report.vips.insert(vip, status);
            }
            own.touch(key, Instant::now(), changed)
        };
        if changed {
            self.shared.changed.notify_one();
        }
    }

    pub fn remove_vip(&self, vip: &str) {
        {
            let mut own = self.shared.own();
            own.report.vips.remove(vip);
            own.forget(report::vip_key(vip));
        }
        self.shared.changed.notify_one();
    }

    /// Set (or, with `state: None`, clear) an override on `target` cluster-wide.
    pub fn set_override(&self, target: impl Into<String>, entry: OverrideEntry) {
        let target = target.into();
        let key = report::Item::Ovr(target.clone(), entry.clone()).key();
        self.change(key, |r| {
            r.overrides.insert(target, entry);
        });
    }
}

/// The long-running part of a node.
pub struct ClusterTask {
    config: config::Cluster,
    key: ClusterKey,
    socket: std::net::UdpSocket,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    view: watch::Sender<Arc<ClusterView>>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ClusterTask {
    /// Gossip until `shutdown`; an error if chitchat stops on its own.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ClusterError> {
        let interval = self.config.gossip_interval;
        let transport =
            AeadTransport::new(&self.key, self.shared.counters.clone(), Some(self.socket));
        let chitchat_config = ChitchatConfig {
            chitchat_id: ChitchatId::new(self.config.node.clone(), unix_ms(), self.local_addr),
            cluster_id: CLUSTER_ID.to_string(),
            gossip_interval: interval,
            listen_addr: self.local_addr,
            seed_nodes: self.config.seeds.iter().map(ToString::to_string).collect(),
            failure_detector_config: FailureDetectorConfig {
                phi_threshold: PHI_THRESHOLD,
                sampling_window_size: 1000,
                max_interval: Duration::from_secs(10).max(interval * 10),
                initial_interval: interval,
                dead_node_grace_period: FORGET_DEAD_AFTER,
            },
            marked_for_deletion_grace_period: Duration::from_secs(3600),
            catchup_callback: None,
            extra_liveness_predicate: None,
            protocol_version: ProtocolVersion::V0,
        };
        let refresh = (self.config.vantage.stale_after / 3).max(interval);
        let mut publisher = Publisher::new(refresh, self.config.vantage.stale_after);
        let (initial, mut own_report) = {
            let mut own = self.shared.own();
            own.dirty.clear();
            own.all_dirty = false;
            let ops = publisher.plan(
                &own.report,
                Changed::All,
                &own.confirmed,
                Instant::now(),
                unix_ms(),
            );
            (ops, Arc::new(own.report.clone()))
        };
        let initial = initial
            .into_iter()
            .filter_map(|op| match op {
                Op::Set(k, v) => Some((k, v)),
                Op::Delete(_) => None,
            })
            .collect();
        let chitchat_handle = spawn_chitchat(chitchat_config, initial, &transport)
            .await
            .map_err(|e| ClusterError::Gossip(crate::errtext::chain(e.as_ref())))?;
        drop(transport);
        tracing::info!(node = %self.config.node, listen = %self.local_addr, seeds = ?self.config.seeds, "cluster gossip started");
        let chitchat = chitchat_handle.chitchat();
        let mut tracker = Tracker::new(interval * SUSPECT_INTERVALS);
        let terminated = chitchat_handle.termination_watcher();
        tokio::pin!(terminated);
        let mut tick = tokio::time::interval(interval / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_sent = Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                r = &mut terminated => {
                    let msg = match r {
                        Ok(()) => "chitchat stopped".to_string(),
                        Err(e) => crate::errtext::chain(e.as_ref()),
                    };
                    tracing::error!(error = %msg, "cluster gossip stopped");
                    return Err(ClusterError::Gossip(msg));
                }
                () = self.shared.changed.notified() => {}
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            let ops = {
                let mut own = self.shared.own();
                let dirty = std::mem::take(&mut own.dirty);
                let all = std::mem::replace(&mut own.all_dirty, false);
                let changed = if all {
                    Changed::All
                } else {
                    Changed::Keys(&dirty)
                };
                // The view's copy of this node's report: renewed only when it changed.
                if all || !dirty.is_empty() {
                    own_report = Arc::new(own.report.clone());
                }
                publisher.plan(&own.report, changed, &own.confirmed, now, unix_ms())
            };
            let view = {
                let mut cc = chitchat.lock().await;
                let state = cc.self_node_state();
                for op in ops {
                    match op {
                        Op::Set(k, v) => state.set(k, v),
                        Op::Delete(k) => state.delete(&k),
                    }
                }
                tracker.build(&cc, &own_report, now)
            };
            let stale = now.saturating_duration_since(last_sent) >= VIEW_MAX_AGE;
            let changed = !self.view.borrow().same_content(&view);
            if changed || stale {
                self.view.send_replace(Arc::new(view));
                last_sent = now;
            }
        }
        tracing::info!(node = %self.config.node, "cluster gossip stopping");
        chitchat_handle
            .shutdown()
            .await
            .map_err(|e| ClusterError::Gossip(crate::errtext::chain(e.as_ref())))
    }
}
