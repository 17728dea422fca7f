//! What a node publishes, and how it maps onto chitchat's key/values.
//!
//! One key per item so that a change costs one key in the next delta: `m1/digest`, `m1/role`,
//! `m1/obs/<target>`, `m1/vip/<vip>`, `m1/ovr/<target>`, and `m1/fresh`: one heartbeat for
//! all of a node's observations (the time it last confirmed them), so that an observation is
//! republished only when it changes and a steady state gossips one small key per refresh. `m1/` is format 1 of Meridian's report:
//! keys with another prefix are skipped (a later format may publish beside this one), while a
//! malformed value under `m1/` is junk, ignored and counted. Values are compact JSON. Nothing
//! here panics on what a peer sends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::OverrideState;

/// The prefix of every key of report format 1.
pub const PREFIX: &str = "m1/";
/// Longest value accepted from a peer.
const MAX_VALUE: usize = 4096;
/// Longest free text (reason, author, digest) published; longer text is cut.
pub const MAX_TEXT: usize = 200;

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Dns,
    Director,
    Both,
}

/// A probe's verdict on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeState {
    Up,
    Down,
}

/// This node's view of one target. `target` (the map key) is a stable id chosen by the health
/// code, e.g. `tcp 192.0.2.10:80` or `addr:192.0.2.10`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub state: ProbeState,
    /// When the state last changed, unix milliseconds.
    pub since_ms: u64,
    pub reason: String,
}

/// A director's account of one of its virtual services (the map key is the VIP, e.g.
/// `tcp 203.0.113.10:80`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipStatus {
    /// Up while the healthy weight is at or above the service's quorum.
    pub quorum: ProbeState,
    pub healthy_weight: u64,
    pub total_weight: u64,
    pub active_conns: u64,
    /// New connections per second.
    pub conn_rate: u64,
    /// Active connections the VIP is sized for (0: not configured): with `active_conns`, what
    /// a DNS tier needs for capacity-aware spill.
    pub capacity: u64,
    /// At or above its `spill_at` (with hysteresis): DNS sends no new clients here while
    /// another site can take them.
    pub full: bool,
}

/// An operator's override command as set on some node: the health module's own type (`state:
/// None` records a clear, so that a clear on one node beats an older set on another; an empty
/// `origin` means the publishing node).
pub use crate::health::overrides::RuntimeOverride as OverrideEntry;

/// Everything one node publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// A digest of the loaded configuration, as given by the caller; nodes compare them to warn
    /// about divergence.
    pub digest: String,
    pub role: Role,
    pub observations: BTreeMap<String, Observation>,
    pub vips: BTreeMap<String, VipStatus>,
    pub overrides: BTreeMap<String, OverrideEntry>,
}

impl Report {
    pub fn new(digest: impl Into<String>, role: Role) -> Report {
        Report {
            digest: digest.into(),
            role,
            observations: BTreeMap::new(),
            vips: BTreeMap::new(),
            overrides: BTreeMap::new(),
        }
    }
}

/// One published item, without its publication time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    Digest(String),
    Role(Role),
    Obs(String, Observation),
    Vip(String, VipStatus),
    Ovr(String, OverrideEntry),
    /// This node's observations are confirmed as of now (published by the publisher, never
    /// part of a [`Report`]).
    Fresh,
}

/// The chitchat key of this node's observation of `target`.
pub(crate) fn obs_key(target: &str) -> String {
    format!("{PREFIX}obs/{target}")
}

/// The chitchat key of this director's report on `vip`.
pub(crate) fn vip_key(vip: &str) -> String {
    format!("{PREFIX}vip/{vip}")
}

/// What a chitchat key of format 1 names, without reading its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind<'a> {
    Digest,
    Role,
    Fresh,
    Obs(&'a str),
    Vip(&'a str),
    Ovr(&'a str),
}

/// The kind of `key`, or None for another format's key or a malformed one.
pub(crate) fn key_kind(key: &str) -> Option<KeyKind<'_>> {
    let rest = key.strip_prefix(PREFIX)?;
    let (kind, name) = rest.split_once('/').unwrap_or((rest, ""));
    match (kind, name.is_empty()) {
        ("digest", true) => Some(KeyKind::Digest),
        ("role", true) => Some(KeyKind::Role),
        ("fresh", true) => Some(KeyKind::Fresh),
        ("obs", false) => Some(KeyKind::Obs(name)),
        ("vip", false) => Some(KeyKind::Vip(name)),
        ("ovr", false) => Some(KeyKind::Ovr(name)),
        _ => None,
    }
}

/// The item of `report` that `key` names, if the report holds it.
pub(crate) fn item_for(report: &Report, key: &str) -> Option<Item> {
    Some(match key_kind(key)? {
        KeyKind::Digest => Item::Digest(report.digest.clone()),
        KeyKind::Role => Item::Role(report.role),
        KeyKind::Fresh => return None,
        KeyKind::Obs(t) => Item::Obs(t.to_string(), report.observations.get(t)?.clone()),
        KeyKind::Vip(v) => Item::Vip(v.to_string(), report.vips.get(v)?.clone()),
        KeyKind::Ovr(t) => Item::Ovr(t.to_string(), report.overrides.get(t)?.clone()),
    })
}

#[derive(Serialize, Deserialize)]
struct ObsWire {
    state: ProbeState,
    since: u64,
    #[serde(default)]
    reason: String,
    /// When the publisher last confirmed it, unix ms.
    at: u64,
}

#[derive(Serialize, Deserialize)]
struct VipWire {
    quorum: ProbeState,
    healthy: u64,
    total: u64,
    conns: u64,
    rate: u64,
    /// Absent in values from nodes before capacity was published.
    #[serde(default)]
    cap: u64,
    /// Absent (false) from nodes before capacity-aware spill, and whenever not full.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    full: bool,
    at: u64,
}

#[derive(Serialize, Deserialize)]
struct OvrWire {
    /// up | down | drain | clear
    state: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    reason: String,
    set_at: u64,
    #[serde(default)]
    expires: Option<u64>,
    /// The node it was given on (a node republishes what it learned, under its own keys).
    #[serde(default)]
    origin: String,
}

/// Free text cut to [`MAX_TEXT`] characters.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(MAX_TEXT).collect()
}

impl Item {
    /// The chitchat key of this item.
    pub(crate) fn key(&self) -> String {
        match self {
            Item::Digest(_) => format!("{PREFIX}digest"),
            Item::Role(_) => format!("{PREFIX}role"),
            Item::Obs(t, _) => obs_key(t),
            Item::Vip(v, _) => vip_key(v),
            Item::Ovr(t, _) => format!("{PREFIX}ovr/{t}"),
            Item::Fresh => format!("{PREFIX}fresh"),
        }
    }

    /// The chitchat value, stamped with `at_ms` where the item carries a confirmation time.
    pub(crate) fn value(&self, at_ms: u64) -> String {
        let json = match self {
            Item::Digest(d) => serde_json::to_string(&clip(d)),
            Item::Role(r) => serde_json::to_string(r),
            Item::Obs(_, o) => serde_json::to_string(&ObsWire {
                state: o.state,
                since: o.since_ms,
                reason: clip(&o.reason),
                at: at_ms,
            }),
            Item::Vip(_, v) => serde_json::to_string(&VipWire {
                quorum: v.quorum,
                healthy: v.healthy_weight,
                total: v.total_weight,
                conns: v.active_conns,
                rate: v.conn_rate,
                cap: v.capacity,
                full: v.full,
                at: at_ms,
            }),
            Item::Ovr(_, o) => serde_json::to_string(&OvrWire {
                state: o.state.map_or("clear", OverrideState::as_str).to_string(),
                author: clip(&o.author),
                reason: clip(&o.reason),
                set_at: o.set_at_ms,
                expires: o.expires_ms,
                origin: clip(&o.origin),
            }),
            Item::Fresh => serde_json::to_string(&at_ms),
        };
        // Serialising these plain structs cannot fail; an empty value would read back as junk.
        json.unwrap_or_default()
    }

    /// Whether the caller confirms this item (observations and VIP status); peers judge a VIP
    /// report's freshness by its republication, an observation's by `m1/fresh`.
    pub(crate) fn refreshable(&self) -> bool {
        matches!(self, Item::Obs(..) | Item::Vip(..))
    }

    /// Whether a change from `self` to `new` must go out at once rather than at the next
    /// refresh: anything but a VIP's load figures.
    pub(crate) fn urgent_change(&self, new: &Item) -> bool {
        match (self, new) {
            (Item::Vip(a, x), Item::Vip(b, y)) => {
                a != b || x.quorum != y.quorum || x.full != y.full
            }
            _ => self != new,
        }
    }
}

/// A peer's value that was not ours to read or could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// An item and its confirmation time (0 where the item has none).
    Item(Item, u64),
    /// Another format's key: skipped, not junk.
    Foreign,
    /// A malformed key or value under [`PREFIX`].
    Junk,
}

/// Read one chitchat key/value of a peer.
pub(crate) fn decode(key: &str, value: &str) -> Decoded {
    if !key.starts_with(PREFIX) {
        return Decoded::Foreign;
    }
    if value.len() > MAX_VALUE {
        return Decoded::Junk;
    }
    let Some(kind) = key_kind(key) else {
        return Decoded::Junk;
    };
    let item = match kind {
        KeyKind::Digest => serde_json::from_str::<String>(value)
            .ok()
            .map(|d| (Item::Digest(d), 0)),
        KeyKind::Role => serde_json::from_str::<Role>(value)
            .ok()
            .map(|r| (Item::Role(r), 0)),
        KeyKind::Fresh => serde_json::from_str::<u64>(value)
            .ok()
            .map(|at| (Item::Fresh, at)),
        KeyKind::Obs(name) => serde_json::from_str::<ObsWire>(value).ok().map(|w| {
            let o = Observation {
                state: w.state,
                since_ms: w.since,
                reason: clip(&w.reason),
            };
            (Item::Obs(name.to_string(), o), w.at)
        }),
        KeyKind::Vip(name) => serde_json::from_str::<VipWire>(value).ok().map(|w| {
            let v = VipStatus {
                quorum: w.quorum,
                healthy_weight: w.healthy,
                total_weight: w.total,
                active_conns: w.conns,
                conn_rate: w.rate,
                capacity: w.cap,
                full: w.full,
            };
            (Item::Vip(name.to_string(), v), w.at)
        }),
        KeyKind::Ovr(name) => serde_json::from_str::<OvrWire>(value).ok().and_then(|w| {
            let state = match w.state.as_str() {
                "clear" => None,
                s => Some(OverrideState::parse(s)?),
            };
            let o = OverrideEntry {
                state,
                author: clip(&w.author),
                reason: clip(&w.reason),
                set_at_ms: w.set_at,
                expires_ms: w.expires,
                origin: clip(&w.origin),
            };
            Some((Item::Ovr(name.to_string(), o), 0))
        }),
    };
    item.map_or(Decoded::Junk, |(i, at)| Decoded::Item(i, at))
}

/// Every item of a report.
pub(crate) fn items(r: &Report) -> Vec<Item> {
    let mut out = vec![Item::Digest(r.digest.clone()), Item::Role(r.role)];
    out.extend(
        r.observations
            .iter()
            .map(|(t, o)| Item::Obs(t.clone(), o.clone())),
    );
    out.extend(r.vips.iter().map(|(v, s)| Item::Vip(v.clone(), s.clone())));
    out.extend(
        r.overrides
            .iter()
            .map(|(t, o)| Item::Ovr(t.clone(), o.clone())),
    );
    out
}

#[cfg(test)]
mod tests;
