//! [`ClusterView`]: an immutable snapshot of what this node knows about its peers, built from
//! chitchat's state by the node task and published through `tokio::sync::watch`.
//!
//! Liveness comes from chitchat's phi-accrual failure detector, refined with a *suspect* state
//! that chitchat does not have: a peer the detector still holds alive but whose heartbeat has
//! not advanced for more than `suspect_after` (4 gossip intervals) is [`Liveness::Suspect`].
//! The age of a VIP report is measured on this node's clock, from when this node first saw its
//! current version (each republication is a new version); an observation's, from when this node
//! first saw its current version or the peer's current `m1/fresh`, whichever is later (a peer
//! that publishes no `m1/fresh` is dated by its observations alone). Clock skew between nodes
//! does not matter.
//!
//! The [`Tracker`] keeps each peer between builds and reads only what changed: a peer whose
//! chitchat max version has not moved costs a comparison, and of one that moved only the keys
//! above the version last read are decoded. A full re-read every [`FULL_READ_EVERY`] catches
//! keys chitchat dropped without a tombstone (its state resets after garbage collection).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chitchat::{Chitchat, ChitchatId, Heartbeat};
use tokio::time::Instant;

use super::overrides::{EffectiveOverride, merge};
use super::report::{
    self, Decoded, Item, KeyKind, Observation, OverrideEntry, ProbeState, Report, Role, VipStatus,
};
use super::vantage::{self, Decision, DirectorInput, OwnInput, PeerInput, Tally};
use crate::config::Vantage;

/// A peer's state as seen from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Liveness {
    /// The failure detector holds it alive and its heartbeat advances.
    Alive,
    /// The failure detector still holds it alive, but it has not been heard from for more than
    /// `suspect_after`.
    Suspect,
    /// The failure detector holds it dead, or has not yet seen it alive.
    Dead,
}

impl Liveness {
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Suspect => "suspect",
            Liveness::Dead => "dead",
        }
    }
}

/// A value a peer publishes, with when it last refreshed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen<T> {
    pub value: T,
    /// The publisher's confirmation time, unix ms on its clock (informative only).
    pub at_ms: u64,
    /// When this node first saw this version.
    pub refreshed: Instant,
}

impl<T> Seen<T> {
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.refreshed)
    }
}

/// One peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    pub node: String,
    pub gossip_addr: SocketAddr,
    /// Start time of the peer's current incarnation (unix ms); a restart makes a new one.
    pub generation: u64,
    pub liveness: Liveness,
    /// When its heartbeat last advanced, on this node's clock.
    pub last_heard: Instant,
    pub digest: Option<String>,
    pub role: Option<Role>,
    /// When this node first saw the peer's current `m1/fresh` (the time the peer last confirmed
    /// all its observations); None for a peer that does not publish it.
    pub fresh: Option<Instant>,
    /// Shared between successive views while the peer's observations do not change.
    pub observations: Arc<BTreeMap<String, Seen<Observation>>>,
    pub vips: BTreeMap<String, Seen<VipStatus>>,
    pub overrides: BTreeMap<String, OverrideEntry>,
}

impl PeerView {
    /// The peer's observation of `target` and its age: since it last changed or the peer's
    /// last `m1/fresh`, whichever is later.
    pub fn observation(&self, target: &str, now: Instant) -> Option<(ProbeState, Duration)> {
        let s = self.observations.get(target)?;
        let dated = self.fresh.map_or(s.refreshed, |f| f.max(s.refreshed));
        Some((s.value.state, now.saturating_duration_since(dated)))
    }
}

/// What this node knows about the cluster at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// This node's name.
    pub node: String,
    pub built: Instant,
    /// What this node publishes.
    pub own: Arc<Report>,
    /// Every other node ever heard of and not yet forgotten, by name (the newest incarnation).
    pub peers: BTreeMap<String, PeerView>,
    /// Values from peers ignored as malformed since this node started.
    pub junk_values: u64,
}

impl ClusterView {
    /// The view before anything was heard.
    pub(crate) fn empty(node: &str, own: Report, now: Instant) -> ClusterView {
        ClusterView {
            node: node.to_string(),
            built: now,
            own: Arc::new(own),
            peers: BTreeMap::new(),
            junk_values: 0,
        }
    }

    /// The vantage rule's inputs for `target`.
    pub fn vantage_inputs(&self, target: &str, now: Instant) -> (OwnInput, Vec<PeerInput>) {
        let own = OwnInput {
            node: self.node.clone(),
            state: self.own.observations.get(target).map(|o| o.state),
        };
        let peers = self
            .peers
            .values()
            .map(|p| PeerInput {
                node: p.node.clone(),
                liveness: p.liveness,
                observation: p.observation(target, now),
            })
            .collect();
        (own, peers)
    }

    /// The vantage verdict on `target` without its explanation, without allocating: what
    /// the health authority asks for every target at every recomputation.
    pub fn tally(&self, target: &str, rule: &Vantage, now: Instant) -> Tally {
        vantage::tally(
            self.own.observations.get(target).map(|o| o.state),
            self.peers
                .values()
                .map(|p| (p.liveness, p.observation(target, now))),
            rule,
        )
    }

    /// The vantage verdict on `target`.
    pub fn decide(&self, target: &str, rule: &Vantage, now: Instant) -> Decision {
        let (own, peers) = self.vantage_inputs(target, now);
        vantage::decide(&own, &peers, rule)
    }

    /// The director's report on `vip`: this node's own if it reports the VIP, else the freshest
    /// report among peers that are not dead.
    pub fn director_input(&self, vip: &str, now: Instant) -> Option<DirectorInput> {
        if let Some(v) = self.own.vips.get(vip) {
            return Some(DirectorInput {
                node: self.node.clone(),
                liveness: Liveness::Alive,
                quorum: v.quorum,
                age: Duration::ZERO,
            });
        }
        self.peers
            .values()
            .filter_map(|p| p.vips.get(vip).map(|s| (p, s)))
            .min_by_key(|(p, s)| (p.liveness == Liveness::Dead, s.age(now)))
            .map(|(p, s)| DirectorInput {
                node: p.node.clone(),
                liveness: p.liveness,
                quorum: s.value.quorum,
                age: s.age(now),
            })
    }

    /// The verdict on a VIP: its director's report, else the vantage rule over probes of
    /// `target` (the VIP's probe target id).
    pub fn decide_vip(&self, vip: &str, target: &str, rule: &Vantage, now: Instant) -> Decision {
        let (own, peers) = self.vantage_inputs(target, now);
        vantage::decide_vip(self.director_input(vip, now).as_ref(), &own, &peers, rule)
    }

    /// The overrides in force, merged from this node and every peer, dead ones included (an
    /// operator's override outlives the node it was given to until that node is forgotten).
    pub fn overrides(&self, now_ms: u64) -> BTreeMap<String, EffectiveOverride> {
        let own = self
            .own
            .overrides
            .iter()
            .map(|(t, e)| (self.node.as_str(), t.as_str(), e));
        let peers = self.peers.values().flat_map(|p| {
            p.overrides
                .iter()
                .map(|(t, e)| (p.node.as_str(), t.as_str(), e))
        });
        merge(own.chain(peers), now_ms)
    }

    /// Peers (not dead) whose configuration digest differs from this node's.
    pub fn divergent(&self) -> Vec<(&str, Option<&str>)> {
        self.peers
            .values()
            .filter(|p| {
                p.liveness != Liveness::Dead && p.digest.as_deref() != Some(&self.own.digest)
            })
            .map(|p| (p.node.as_str(), p.digest.as_deref()))
            .collect()
    }

    /// Equal apart from build time and heartbeat times (what does not warrant a publication).
    pub(crate) fn same_content(&self, other: &ClusterView) -> bool {
        self.node == other.node
            && self.own == other.own
            && self.junk_values == other.junk_values
            && self.peers.len() == other.peers.len()
            && self.peers.values().zip(other.peers.values()).all(|(a, b)| {
                PeerView {
                    last_heard: b.last_heard,
                    ..a.clone()
                } == *b
            })
    }
}

/// How often a peer's keys are all read again, whatever its version says.
pub(crate) const FULL_READ_EVERY: Duration = Duration::from_secs(30);

/// One peer incarnation as last read.
struct Kept {
    /// Chitchat's max version of the peer when last read.
    max_version: u64,
    heard: (Heartbeat, Instant),
    /// Liveness and last heard are set at each build; the rest is kept.
    peer: PeerView,
    read_all_at: Instant,
}

/// Remembers, between two builds, each peer as last read and when each heartbeat and each
/// value last changed.
pub(crate) struct Tracker {
    suspect_after: Duration,
    kept: HashMap<ChitchatId, Kept>,
    junk: u64,
}

impl Tracker {
    pub(crate) fn new(suspect_after: Duration) -> Tracker {
        Tracker {
            suspect_after,
            kept: HashMap::new(),
            junk: 0,
        }
    }

    /// A view of `chitchat`'s current state.
    pub(crate) fn build(
        &mut self,
        chitchat: &Chitchat,
        own: &Arc<Report>,
        now: Instant,
    ) -> ClusterView {
        let me = chitchat.self_chitchat_id().node_id.clone();
        let live: std::collections::HashSet<&ChitchatId> = chitchat.live_nodes().collect();
        let mut kept = HashMap::with_capacity(self.kept.len());
        let mut peers: BTreeMap<String, PeerView> = BTreeMap::new();
        for (id, state) in chitchat.node_states() {
            if id.node_id == me {
                continue;
            }
            let mut k = match self.kept.remove(id) {
                Some(k) => k,
                None => Kept {
                    max_version: 0,
                    heard: (state.heartbeat(), now),
                    peer: PeerView {
                        node: id.node_id.to_string(),
                        gossip_addr: id.gossip_advertise_addr,
                        generation: id.generation_id,
                        liveness: Liveness::Dead,
                        last_heard: now,
                        digest: None,
                        role: None,
                        fresh: None,
                        observations: Arc::new(BTreeMap::new()),
                        vips: BTreeMap::new(),
                        overrides: BTreeMap::new(),
                    },
                    read_all_at: now,
                },
            };
            let hb = state.heartbeat();
            if k.heard.0 != hb {
                k.heard = (hb, now);
            }
            let last_heard = k.heard.1;
            k.peer.last_heard = last_heard;
            k.peer.liveness = match live.contains(id) {
                false => Liveness::Dead,
                true if now.saturating_duration_since(last_heard) > self.suspect_after => {
                    Liveness::Suspect
                }
                true => Liveness::Alive,
            };
            let max = state.max_version();
            let full = max < k.max_version
                || now.saturating_duration_since(k.read_all_at) >= FULL_READ_EVERY;
            if full {
                self.read_all(&mut k, state, now);
            } else if max > k.max_version {
                self.read_since(&mut k, state, now);
            }
            k.max_version = max;
            match peers.get(k.peer.node.as_str()) {
                Some(other) if other.generation > k.peer.generation => {}
                _ => {
                    peers.insert(k.peer.node.clone(), k.peer.clone());
                }
            }
            kept.insert(id.clone(), k);
        }
        self.kept = kept;
        ClusterView {
            node: me.to_string(),
            built: now,
            own: own.clone(),
            peers,
            junk_values: self.junk,
        }
    }

    /// Reads the keys above the version last read: new values, and tombstones.
    fn read_since(&mut self, k: &mut Kept, state: &chitchat::NodeState, now: Instant) {
        let since = k.max_version;
        for (key, vv) in state.key_values_including_deleted() {
            if vv.version <= since {
                continue;
            }
            if vv.is_deleted() {
                remove(&mut k.peer, key);
            } else {
                self.read(&mut k.peer, key, &vv.value, now);
            }
        }
    }

    /// Reads every key again: values whose version was already read keep when they were
    /// first seen; keys gone from chitchat are dropped.
    fn read_all(&mut self, k: &mut Kept, state: &chitchat::NodeState, now: Instant) {
        let blank = PeerView {
            digest: None,
            role: None,
            fresh: None,
            observations: Arc::new(BTreeMap::new()),
            vips: BTreeMap::new(),
            overrides: BTreeMap::new(),
            ..k.peer.clone()
        };
        let old = std::mem::replace(&mut k.peer, blank);
        let mut observations = BTreeMap::new();
        for (key, vv) in state.key_values_including_deleted() {
            if vv.is_deleted() {
                continue;
            }
            let known = vv.version <= k.max_version;
            match report::key_kind(key) {
                Some(KeyKind::Obs(t)) if known && old.observations.contains_key(t) => {
                    if let Some(s) = old.observations.get(t) {
                        observations.insert(t.to_string(), s.clone());
                    }
                }
                Some(KeyKind::Vip(v)) if known && old.vips.contains_key(v) => {
                    if let Some(s) = old.vips.get(v) {
                        k.peer.vips.insert(v.to_string(), s.clone());
                    }
                }
                Some(KeyKind::Fresh) if known && old.fresh.is_some() => k.peer.fresh = old.fresh,
                _ => {
                    let node = old.node.clone();
                    if let Some((item, at_ms)) = self.decode(&node, key, &vv.value, !known) {
                        match item {
                            Item::Obs(t, value) => {
                                let seen = Seen {
                                    value,
                                    at_ms,
                                    refreshed: now,
                                };
                                observations.insert(t, seen);
                            }
                            other => apply(&mut k.peer, other, at_ms, now),
                        }
                    }
                }
            }
        }
        k.peer.observations = Arc::new(observations);
        k.read_all_at = now;
    }

    /// Decodes and applies one new value.
    fn read(&mut self, peer: &mut PeerView, key: &str, value: &str, now: Instant) {
        let node = peer.node.clone();
        if let Some((item, at_ms)) = self.decode(&node, key, value, true) {
            apply(peer, item, at_ms, now);
        }
    }

    /// One peer value: its item, or None (another format's key, or junk, counted when new).
    fn decode(&mut self, node: &str, key: &str, value: &str, new: bool) -> Option<(Item, u64)> {
        match report::decode(key, value) {
            Decoded::Item(item, at_ms) => Some((item, at_ms)),
            Decoded::Foreign => None,
            Decoded::Junk => {
                if new {
                    self.junk += 1;
                    tracing::debug!(peer = %node, key, "ignored a malformed cluster value");
                }
                None
            }
        }
    }
}

/// Forgets the item a deleted key named.
fn remove(peer: &mut PeerView, key: &str) {
    match report::key_kind(key) {
        Some(KeyKind::Obs(t)) if peer.observations.contains_key(t) => {
            Arc::make_mut(&mut peer.observations).remove(t);
        }
        Some(KeyKind::Obs(_)) => {}
        Some(KeyKind::Vip(v)) => {
            peer.vips.remove(v);
        }
        Some(KeyKind::Ovr(t)) => {
            peer.overrides.remove(t);
        }
        Some(KeyKind::Digest) => peer.digest = None,
        Some(KeyKind::Role) => peer.role = None,
        Some(KeyKind::Fresh) => peer.fresh = None,
        None => {}
    }
}

fn apply(peer: &mut PeerView, item: Item, at_ms: u64, refreshed: Instant) {
    match item {
        Item::Digest(d) => peer.digest = Some(d),
        Item::Role(r) => peer.role = Some(r),
        Item::Obs(t, value) => {
            Arc::make_mut(&mut peer.observations).insert(
                t,
                Seen {
                    value,
                    at_ms,
                    refreshed,
                },
            );
        }
        Item::Fresh => peer.fresh = Some(refreshed),
        Item::Vip(v, value) => {
            peer.vips.insert(
                v,
                Seen {
                    value,
                    at_ms,
                    refreshed,
                },
            );
        }
        Item::Ovr(t, e) => {
            peer.overrides.insert(t, e);
        }
    }
}
