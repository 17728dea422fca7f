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
                    },
                    "stats": stats_json(&s.stats),
                    "reals": s.reals.iter().map(real_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "services": services })
    }

    /// Labelled Prometheus lines: per virtual service and per real server.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let svc_label = |s: &ServiceStatus| format!("service=\"{}\"", key_display(&s.key));
        type SvcFig = fn(&ServiceStatus) -> Option<u64>;
        let svc: [(&str, &str, &str, SvcFig); 11] = [
            (
                "connections_total",
                "counter",
                "Connections scheduled by the virtual service.",
                |s| Some(s.stats.conns),
            ),
            (
                "packets_in_total",
                "counter",
                "Packets in through the virtual service.",
                |s| Some(s.stats.inpkts),
            ),
            (
                "packets_out_total",
                "counter",
                "Packets out through the virtual service (NAT only).",
                |s| Some(s.stats.outpkts),
            ),
            (
                "bytes_in_total",
                "counter",
                "Bytes in through the virtual service.",
                |s| Some(s.stats.inbytes),
            ),
            (
                "bytes_out_total",
                "counter",
                "Bytes out through the virtual service (NAT only).",
                |s| Some(s.stats.outbytes),
            ),
            (
                "connection_rate",
                "gauge",
                "New connections per second (kernel estimator).",
                |s| Some(s.stats.cps),
            ),
            (
                "packet_in_rate",
                "gauge",
                "Packets in per second (kernel estimator).",
                |s| Some(s.stats.inpps),
            ),
            (
                "byte_in_rate",
                "gauge",
                "Bytes in per second (kernel estimator).",
                |s| Some(s.stats.inbps),
            ),
            (
                "active_connections",
                "gauge",
                "Active connections over every real server.",
                |s| Some(s.load.active_conns),
            ),
            (
                "capacity",
                "gauge",
                "Configured capacity in active connections.",
                |s| (s.load.capacity > 0).then_some(s.load.capacity),
            ),
            ("up", "gauge", "1 while the VIP holds its quorum.", |s| {
                s.up.map(u64::from)
            }),
        ];
        for (name, kind, help, f) in svc {
            family(&mut out, &format!("lvs_service_{name}"), kind, help);
            for s in &self.services {
                if let Some(v) = f(s) {
                    out.push_str(&format!(
                        "meridian_lvs_service_{name}{{{}}} {v}\n",
                        svc_label(s)
                    ));
                }
            }
        }
        type RealFig = fn(&RealStatus) -> Option<u64>;
        let real: [(&str, &str, &str, RealFig); 9] = [
            (
                "connections_total",
                "counter",
                "Connections scheduled to the real server.",
                |r| Some(r.stats.conns),
            ),
            (
                "packets_in_total",
                "counter",
                "Packets in to the real server.",
                |r| Some(r.stats.inpkts),
            ),
            (
                "bytes_in_total",
                "counter",
                "Bytes in to the real server.",
                |r| Some(r.stats.inbytes),
            ),
            (
                "bytes_out_total",
                "counter",
                "Bytes out from the real server (NAT only).",
                |r| Some(r.stats.outbytes),
            ),
            (
                "connection_rate",
                "gauge",
                "New connections per second (kernel estimator).",
                |r| Some(r.stats.cps),
            ),
            ("active_connections", "gauge", "Active connections.", |r| {
                Some(u64::from(r.active_conns))
            }),
            (
                "inactive_connections",
                "gauge",
                "Inactive connections.",
                |r| Some(u64::from(r.inactive_conns)),
            ),
            (
                "weight",
                "gauge",
                "The kernel's weight (absent when not in the kernel).",
                |r| r.weight.map(u64::from),
            ),
            (
                "draining",
                "gauge",
                "1 while a drain waits for the real server's connections.",
                |r| Some(u64::from(r.state == RealState::Draining)),
            ),
        ];
        for (name, kind, help, f) in real {
            family(&mut out, &format!("lvs_real_{name}"), kind, help);
            for s in &self.services {
                for r in &s.reals {
                    if let Some(v) = f(r) {
                        out.push_str(&format!(
                            "meridian_lvs_real_{name}{{{},real=\"{}\"}} {v}\n",
                            svc_label(s),
                            r.addr
                        ));
                    }
                }
            }
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str(&format!(
        "# HELP meridian_{name} {help}\n# TYPE meridian_{name} {kind}\n"
    ));
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

#[cfg(test)]
mod tests;
