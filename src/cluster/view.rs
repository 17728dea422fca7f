//! [`ClusterView`]: an immutable snapshot of what this node knows about its peers, built from
//! chitchat's state by the node task and published through `tokio::sync::watch`.
//!
//! Liveness comes from chitchat's phi-accrual failure detector, refined with a *suspect* state
//! that chitchat does not have: a peer the detector still holds alive but whose heartbeat has
//! not advanced for more than `suspect_after` (4 gossip intervals) is [`Liveness::Suspect`].
//! The age of an observation or VIP report is measured on this node's clock, from when this node
//! first saw its current version (each republication is a new version), so clock skew between
//! nodes does not matter.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use chitchat::{Chitchat, ChitchatId, Heartbeat};
use tokio::time::Instant;

use super::overrides::{EffectiveOverride, merge};
use super::report::{self, Decoded, Item, Observation, OverrideEntry, Report, Role, VipStatus};
use super::vantage::{self, Decision, DirectorInput, OwnInput, PeerInput};
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
    pub observations: BTreeMap<String, Seen<Observation>>,
    pub vips: BTreeMap<String, Seen<VipStatus>>,
    pub overrides: BTreeMap<String, OverrideEntry>,
}

/// What this node knows about the cluster at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// This node's name.
    pub node: String,
    pub built: Instant,
    /// What this node publishes.
    pub own: Report,
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
            own,
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
                observation: p
                    .observations
                    .get(target)
                    .map(|s| (s.value.state, s.age(now))),
            })
            .collect();
        (own, peers)
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

/// Remembers, between two builds, when each heartbeat and each value last changed.
pub(crate) struct Tracker {
    suspect_after: Duration,
    heard: HashMap<ChitchatId, (Heartbeat, Instant)>,
    versions: HashMap<(ChitchatId, String), (u64, Instant)>,
    junk: u64,
}

impl Tracker {
    pub(crate) fn new(suspect_after: Duration) -> Tracker {
        Tracker {
            suspect_after,
            heard: HashMap::new(),
            versions: HashMap::new(),
            junk: 0,
        }
    }

    /// A view of `chitchat`'s current state.
    pub(crate) fn build(&mut self, chitchat: &Chitchat, own: &Report, now: Instant) -> ClusterView {
        let me = chitchat.self_chitchat_id().node_id.clone();
        let live: std::collections::HashSet<&ChitchatId> = chitchat.live_nodes().collect();
        let mut heard = HashMap::new();
        let mut versions = HashMap::new();
        let mut peers: BTreeMap<String, PeerView> = BTreeMap::new();
        for (id, state) in chitchat.node_states() {
            if id.node_id == me {
                continue;
            }
            let hb = state.heartbeat();
            let last_heard = match self.heard.get(id) {
                Some((old, at)) if *old == hb => *at,
                _ => now,
            };
            heard.insert(id.clone(), (hb, last_heard));
            let liveness = match live.contains(id) {
                false => Liveness::Dead,
                true if now.saturating_duration_since(last_heard) > self.suspect_after => {
                    Liveness::Suspect
                }
                true => Liveness::Alive,
            };
            let mut peer = PeerView {
                node: id.node_id.to_string(),
                gossip_addr: id.gossip_advertise_addr,
                generation: id.generation_id,
                liveness,
                last_heard,
                digest: None,
                role: None,
                observations: BTreeMap::new(),
                vips: BTreeMap::new(),
                overrides: BTreeMap::new(),
            };
            for (key, value) in state.key_values() {
                let version = state.get_versioned(key).map_or(0, |v| v.version);
                let k = (id.clone(), key.to_string());
                let (refreshed, new) = match self.versions.get(&k) {
                    Some((v, at)) if *v == version => (*at, false),
                    _ => (now, true),
                };
                versions.insert(k, (version, refreshed));
                match report::decode(key, value) {
                    Decoded::Item(item, at_ms) => apply(&mut peer, item, at_ms, refreshed),
                    Decoded::Foreign => {}
                    Decoded::Junk => {
                        if new {
                            self.junk += 1;
                            tracing::debug!(peer = %id.node_id, key, "ignored a malformed cluster value");
                        }
                    }
                }
            }
            match peers.get(peer.node.as_str()) {
                Some(other) if other.generation > peer.generation => {}
                _ => {
                    peers.insert(peer.node.clone(), peer);
                }
            }
        }
        self.heard = heard;
        self.versions = versions;
        ClusterView {
            node: me.to_string(),
            built: now,
            own: own.clone(),
            peers,
            junk_values: self.junk,
        }
    }
}

fn apply(peer: &mut PeerView, item: Item, at_ms: u64, refreshed: Instant) {
    match item {
        Item::Digest(d) => peer.digest = Some(d),
        Item::Role(r) => peer.role = Some(r),
        Item::Obs(t, value) => {
            peer.observations.insert(
                t,
                Seen {
                    value,
                    at_ms,
                    refreshed,
                },
            );
        }
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
