//! What the running director knows, for people and monitoring: every managed virtual service
//! with its VIP state, load (active connections over `capacity`) and the kernel's statistics,
//! and every real server with its state (up, down, draining with its connections and
//! deadline, drained, removed, sorry), weight, connection counts and statistics. Built by a
//! pure function from the reconciler's table, desired state and drains; rendered as the
//! `lvs` part of `/status` and as labelled Prometheus lines.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{Lvs, VirtualKey};

use super::client::key_display;
use super::desired::{Desired, VipLoad, VipState};
use super::drain::{DrainBook, DrainEnd};
use super::model::{Dest, Stats, Table};
use super::show::stats_json;

/// A real server's state as the director handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealState {
    /// Its configured weight.
    Up,
    /// Failed, kept at weight 0 (`on_failure = "weight0"`).
    Down,
    /// Weight 0, kept while connections remain.
    Draining,
    /// Drained and deleted; out while the drain lasts.
    Drained,
    /// Failed and deleted (`on_failure = "remove"`).
    Removed,
    /// The sorry server, in while no real server is up.
    Sorry,
}

impl RealState {
    pub fn as_str(self) -> &'static str {
        match self {
            RealState::Up => "up",
            RealState::Down => "down",
            RealState::Draining => "draining",
            RealState::Drained => "drained",
            RealState::Removed => "removed",
            RealState::Sorry => "sorry",
        }
    }
}

/// A drain as shown: how long it has run, the time left to its deadline, how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainInfo {
    pub elapsed: Duration,
    pub deadline_in: Option<Duration>,
    pub ended: Option<DrainEnd>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealStatus {
    pub addr: SocketAddr,
    pub state: RealState,
    /// The kernel's weight (None: not in the kernel).
    pub weight: Option<u32>,
    pub configured_weight: u32,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persist_conns: u32,
    pub stats: Stats,
    pub drain: Option<DrainInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    pub key: VirtualKey,
    /// The VIP's quorum (None before the first pass).
    pub up: Option<bool>,
    pub load: VipLoad,
    /// Present in the kernel.
    pub present: bool,
    pub stats: Stats,
    pub reals: Vec<RealStatus>,
}

/// Every managed service, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectorStatus {
    pub services: Vec<ServiceStatus>,
}

fn real_state(
    configured: u32,
    want: Option<u32>,
    drain: Option<&DrainInfo>,
    in_kernel: bool,
) -> RealState {
    match (drain, want) {
        (Some(d), _) if d.ended.is_none() => RealState::Draining,
        (Some(_), _) => RealState::Drained,
        (None, Some(w)) if w == configured => RealState::Up,
        (None, Some(_)) => RealState::Down,
        // Without a desired state (the last pass failed), what the kernel holds.
        (None, None) if in_kernel => RealState::Up,
        (None, None) => RealState::Removed,
    }
}

impl DirectorStatus {
    /// The status from the reconciler's view at `now` (its monotonic clock).
    pub fn build(
        lvs: &Lvs,
        table: &Table,
        want: Option<&Desired>,
        drains: &DrainBook,
        vip: &VipState,
        now: Duration,
    ) -> DirectorStatus {
        let kernel: BTreeMap<&VirtualKey, _> = table
            .services
            .iter()
            .map(|(s, d)| (&s.conf.key, (s, d.as_slice())))
            .collect();
        let mut services = Vec::with_capacity(lvs.services.len());
        for s in &lvs.services {
            let (svc, dests) = kernel.get(&s.key).copied().unzip();
            let dests: &[Dest] = dests.unwrap_or(&[]);
            let w = want.and_then(|w| w.services.get(&s.key));
            let find = |a: &SocketAddr| dests.iter().find(|d| d.conf.addr == *a);
            let mut reals = Vec::with_capacity(s.reals.len() + 1);
            for r in &s.reals {
                let d = find(&r.addr);
                let drain = drains.get(&s.key, &r.addr).map(|dr| {
                    let elapsed = now.saturating_sub(dr.since);
                    DrainInfo {
                        elapsed,
                        deadline_in: s.drain_deadline.map(|dl| dl.saturating_sub(elapsed)),
                        ended: dr.ended,
                    }
                });
                let want_w = w.map(|w| w.dests.get(&r.addr).map(|c| c.weight));
                let state = match want_w {
                    Some(None) if drain.is_none() => RealState::Removed,
                    Some(x) => real_state(r.weight, x, drain.as_ref(), d.is_some()),
                    None => real_state(r.weight, None, drain.as_ref(), d.is_some()),
                };
                reals.push(real_status(r.addr, state, r.weight, d, drain));
            }
            if let Some(sorry) = s.sorry_server
                && let Some(d) = find(&sorry)
            {
                reals.push(real_status(sorry, RealState::Sorry, 1, Some(d), None));
            }
            services.push(ServiceStatus {
                key: s.key,
                up: vip.services.get(&s.key).copied(),
                load: vip.load.get(&s.key).copied().unwrap_or_default(),
                present: svc.is_some(),
                stats: svc.map(|s| s.stats).unwrap_or_default(),
                reals,
            });
        }
        DirectorStatus { services }
    }

    /// The `lvs` part of `/status`.
    pub fn json(&self) -> Value {
        let services: Vec<Value> = self
            .services
            .iter()
            .map(|s| {
                json!({
                    "service": key_display(&s.key),
                    "up": s.up,
                    "present": s.present,
                    "load": {
                        "active_conns": s.load.active_conns,
                        "capacity": (s.load.capacity > 0).then_some(s.load.capacity),
                        "load_permille": s.load.load_permille(),
                        "conn_rate": s.load.conn_rate,
                        "healthy_weight": s.load.healthy_weight,
                        "total_weight": s.load.total_weight,
                        "spill_at_percent": s.load.spill.map(|sp| sp.at),
                        "spill_resume_percent": s.load.spill.map(|sp| sp.resume),
                        "full": s.load.full,
                    },
                    "stats": stats_json(&s.stats),
                    "reals": s.reals.iter().map(real_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "services": services })
    }
}

fn real_status(
    addr: SocketAddr,
    state: RealState,
    configured_weight: u32,
    d: Option<&Dest>,
    drain: Option<DrainInfo>,
) -> RealStatus {
    RealStatus {
        addr,
        state,
        weight: d.map(|d| d.conf.weight),
        configured_weight,
        active_conns: d.map_or(0, |d| d.active_conns),
        inactive_conns: d.map_or(0, |d| d.inactive_conns),
        persist_conns: d.map_or(0, |d| d.persist_conns),
        stats: d.map(|d| d.stats).unwrap_or_default(),
        drain,
    }
}

fn real_json(r: &RealStatus) -> Value {
    let mut v = json!({
        "addr": r.addr.to_string(),
        "state": r.state.as_str(),
        "weight": r.weight,
        "configured_weight": r.configured_weight,
        "active_conns": r.active_conns,
        "inactive_conns": r.inactive_conns,
        "persist_conns": r.persist_conns,
        "stats": stats_json(&r.stats),
    });
    if let Some(d) = &r.drain {
        v["drain"] = json!({
            "elapsed_s": d.elapsed.as_secs(),
            "deadline_in_s": d.deadline_in.map(|x| x.as_secs()),
            "ended": d.ended.map(DrainEnd::as_str),
        });
    }
    v
}

mod prom;

pub use prom::{LvsCollector, latest, publish};

#[cfg(test)]
mod tests;
