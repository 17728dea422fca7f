//! The [`Tracker`]: each peer kept between two builds of the [`ClusterView`], read again only
//! where chitchat's version moved (and in full every [`FULL_READ_EVERY`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chitchat::{Chitchat, ChitchatId, Heartbeat};
use tokio::time::Instant;

use super::{ClusterView, Liveness, PeerView, Seen};
use crate::cluster::report::{self, Decoded, Item, KeyKind, Report};

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
