//! `meridian realserver`: prepares this host as a real server of the `[lvs]` services that
//! list one of its addresses with direct routing or tunnelling. DR: the VIP on `lo` (/32 or
//! /128), `arp_ignore = 1` and `arp_announce = 2` so that the host neither answers nor
//! announces the VIP on the network (the director owns it there). TUN: the VIP on the ipip
//! device `tunl0` (created, and brought up), the same ARP settings, and loose reverse-path
//! filtering on `tunl0` when the effective setting is strict (decapsulated packets come in
//! on `tunl0` from clients routed elsewhere). NAT needs nothing on the real server.
//!
//! ```text
//!  [lvs] + this host's addresses --wanted()--> Want --+
//!                                                     +--plan()--> [Change] --apply--> host
//!  rtnetlink dumps + /proc/sys ------observe--> Seen --+
//!  the record of what `up` changed --undo()--> [Change] (for `down`)
//! ```
//! [`wanted`], [`plan`] and [`undo`] are pure; [`host`] observes and applies over rtnetlink
//! ([`rtnl`]) and `/proc/sys`, and keeps the record of what `up` changed (so that `down`
//! removes what it added and puts back the values it replaced, and nothing else).

pub mod host;
pub mod rtnl;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::config::{Forward, Lvs, VirtualKey};

/// The ipip fallback device the kernel creates with the `ipip` module.
pub const TUNNEL_DEV: &str = "tunl0";
pub const LOOPBACK_DEV: &str = "lo";

/// A VIP on a device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DevAddr {
    pub dev: String,
    pub ip: IpAddr,
}

impl fmt::Display for DevAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = if self.ip.is_ipv4() { 32 } else { 128 };
        write!(f, "{}/{len} on {}", self.ip, self.dev)
    }
}

/// What this host needs for its services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Want {
    pub addrs: BTreeSet<DevAddr>,
    /// IPv4 VIPs by DR or TUN: the ARP settings.
    pub arp: bool,
    pub tunnel: bool,
    /// (service, real server address) pairs served here, for the report.
    pub services: Vec<(VirtualKey, IpAddr, Forward)>,
}

/// What the host has now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub addrs: BTreeSet<DevAddr>,
    /// Device name -> up.
    pub links: BTreeMap<String, bool>,
    /// Sysctl name (`net.ipv4.conf.all.arp_ignore`) -> value, for the ones that matter.
    pub sysctls: BTreeMap<String, String>,
}

/// One change to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    CreateTunnel(String),
    LinkUp(String),
    LinkDown(String),
    AddAddr(DevAddr),
    DelAddr(DevAddr),
    Sysctl {
        name: String,
        from: Option<String>,
        to: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateTunnel(d) => write!(f, "create ipip device {d}"),
            Change::LinkUp(d) => write!(f, "set {d} up"),
            Change::LinkDown(d) => write!(f, "set {d} down"),
            Change::AddAddr(a) => write!(f, "add {a}"),
            Change::DelAddr(a) => write!(f, "remove {a}"),
            Change::Sysctl { name, from, to } => {
                write!(
                    f,
                    "{name} = {to} (was {})",
                    from.as_deref().unwrap_or("absent")
                )
            }
        }
    }
}

/// What `up` changed, kept between runs so that `down` undoes exactly that.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub addrs: Vec<DevAddr>,
    /// Sysctl name and the value it had before the first change.
    pub sysctls: Vec<(String, String)>,
    pub links_up: Vec<String>,
}

impl Record {
    /// Add what `changes` did; a value replaced earlier keeps its first recorded value.
    pub fn note(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::AddAddr(a) if !self.addrs.contains(a) => self.addrs.push(a.clone()),
                Change::Sysctl {
                    name,
                    from: Some(old),
                    ..
                } if !self.sysctls.iter().any(|(n, _)| n == name) => {
                    self.sysctls.push((name.clone(), old.clone()))
                }
                Change::LinkUp(d) if !self.links_up.contains(d) => self.links_up.push(d.clone()),
                _ => {}
            }
        }
    }
}

pub const ARP_IGNORE: &str = "net.ipv4.conf.all.arp_ignore";
pub const ARP_ANNOUNCE: &str = "net.ipv4.conf.all.arp_announce";
pub const RP_FILTER_ALL: &str = "net.ipv4.conf.all.rp_filter";
/// What a new device (the tunnel, once created) starts with.
pub const RP_FILTER_DEFAULT: &str = "net.ipv4.conf.default.rp_filter";

pub fn rp_filter_of(dev: &str) -> String {
    format!("net.ipv4.conf.{dev}.rp_filter")
}

/// The sysctls [`plan`] reads.
pub fn sysctls_read() -> Vec<String> {
    vec![
        ARP_IGNORE.into(),
        ARP_ANNOUNCE.into(),
        RP_FILTER_ALL.into(),
        RP_FILTER_DEFAULT.into(),
        rp_filter_of(TUNNEL_DEV),
    ]
}

/// The VIPs and settings `[lvs]` asks of a host with these addresses: every DR or TUN real
/// server whose address is one of `local` (fwmark services have no VIP to put anywhere).
pub fn wanted(lvs: &Lvs, local: &BTreeSet<IpAddr>) -> Want {
    let mut w = Want::default();
    for s in &lvs.services {
        let VirtualKey::Addr { addr: vip, .. } = s.key else {
            continue;
        };
        for r in s.reals.iter().filter(|r| local.contains(&r.addr.ip())) {
            let fwd = r.forward.unwrap_or(s.forward);
            let dev = match fwd {
                Forward::Dr => LOOPBACK_DEV,
                Forward::Tun => {
                    w.tunnel = true;
                    TUNNEL_DEV
                }
                Forward::Nat => continue,
            };
            w.arp |= vip.is_ipv4();
            w.addrs.insert(DevAddr {
                dev: dev.to_owned(),
                ip: vip.ip(),
            });
            w.services.push((s.key, r.addr.ip(), fwd));
        }
    }
    w
}

fn num(seen: &Seen, name: &str) -> Option<u32> {
    seen.sysctls.get(name).and_then(|v| v.trim().parse().ok())
}

fn at_least(seen: &Seen, name: &str, min: u32, out: &mut Vec<Change>) {
    if num(seen, name).is_none_or(|v| v < min) {
        out.push(Change::Sysctl {
            name: name.to_owned(),
            from: seen.sysctls.get(name).cloned(),
            to: min.to_string(),
        });
    }
}

/// The changes that bring the host to `want` (nothing that is already so).
pub fn plan(want: &Want, seen: &Seen) -> Vec<Change> {
    let mut out = Vec::new();
    if want.tunnel {
        match seen.links.get(TUNNEL_DEV) {
            None => {
                out.push(Change::CreateTunnel(TUNNEL_DEV.into()));
                out.push(Change::LinkUp(TUNNEL_DEV.into()));
            }
            Some(false) => out.push(Change::LinkUp(TUNNEL_DEV.into())),
            Some(true) => {}
        }
    }
    if !want.addrs.is_empty() && seen.links.get(LOOPBACK_DEV) == Some(&false) {
        out.push(Change::LinkUp(LOOPBACK_DEV.into()));
    }
    if want.arp {
        at_least(seen, ARP_IGNORE, 1, &mut out);
        at_least(seen, ARP_ANNOUNCE, 2, &mut out);
    }
    if want.tunnel {
        // The kernel uses the greater of `all` and the device's value: only strict (1) drops
        // decapsulated packets whose client is routed through another interface.
        // A device not created yet will start with the `default` value.
        let tun = rp_filter_of(TUNNEL_DEV);
        let own = if seen.sysctls.contains_key(&tun) {
            tun.as_str()
        } else {
            RP_FILTER_DEFAULT
        };
        let effective = num(seen, RP_FILTER_ALL)
            .unwrap_or(0)
            .max(num(seen, own).unwrap_or(0));
        if effective == 1 {
            out.push(Change::Sysctl {
                from: seen.sysctls.get(own).cloned(),
                name: tun,
                to: "2".into(),
            });
        }
    }
    for a in &want.addrs {
        if !seen.addrs.contains(a) {
            out.push(Change::AddAddr(a.clone()));
        }
    }
    out
}

/// The changes that undo a record: its addresses removed (those still there), its sysctls
/// put back (those still at a value it set), its devices set down.
pub fn undo(record: &Record, seen: &Seen) -> Vec<Change> {
    let mut out = Vec::new();
    for a in &record.addrs {
        if seen.addrs.contains(a) {
            out.push(Change::DelAddr(a.clone()));
        }
    }
    for (name, old) in &record.sysctls {
        let cur = seen.sysctls.get(name);
        if cur.is_some_and(|c| c != old) {
            out.push(Change::Sysctl {
                name: name.clone(),
                from: cur.cloned(),
                to: old.clone(),
            });
        }
    }
    for d in &record.links_up {
        if seen.links.get(d) == Some(&true) && d != LOOPBACK_DEV {
            out.push(Change::LinkDown(d.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests;
