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
//! The `Tracker` keeps each peer between builds and reads only what changed: a peer whose
//! chitchat max version has not moved costs a comparison, and of one that moved only the keys
//! above the version last read are decoded. A full re-read every `tracker::FULL_READ_EVERY` catches
//! keys chitchat dropped without a tombstone (its state resets after garbage collection).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::overrides::{EffectiveOverride, merge};
use super::report::{Observation, OverrideEntry, ProbeState, Report, Role, VipStatus};
use super::vantage::{self, Decision, DirectorInput, OwnInput, PeerInput, Tally};
use crate::config::Vantage;
pub(crate) use tracker::Tracker;

mod tracker;

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
