//! The desired kernel state: `[lvs]` config plus real-server health -> the services and real
//! servers Meridian wants, and each VIP's own up/down (quorum with hysteresis). Pure functions.
//!
//! Health is an input: the health authority's [`RealTable`] gives a verdict per (service, real
//! server); a real server it does not hold counts as up. An up real server gets its weight; a
//! drained one (an operator's `drain`, `drain = true` on the real server in the configuration)
//! weight 0 and is listed in `draining`, whatever `on_failure` says, so its connections
//! continue until [`super::drain`] retires it; a down one weight 0 (`on_failure = "weight0"`:
//! existing connections continue), is left out (`"remove"`) or drains (`"drain"`). The sorry
//! server is present exactly while no real server is up.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use crate::config::{Lvs, LvsService, OnFailure, SpillAt, VirtualKey};
use crate::health::{RealTable, Status};

use super::codec::consts::SVC_F_PERSISTENT;
use super::model::{DestConf, ServiceConf, Tunnel, flag_bit, key_af};

/// One service as Meridian wants it in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    pub conf: ServiceConf,
    pub dests: BTreeMap<SocketAddr, DestConf>,
    /// Sum of the configured weights of the healthy real servers.
    pub healthy_weight: u64,
    pub sorry_active: bool,
    /// Real servers in drain: weight 0 until their connections end or the deadline passes.
    pub draining: BTreeSet<SocketAddr>,
}

/// Every managed service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub services: BTreeMap<VirtualKey, DesiredService>,
}

/// Kernel settings for a configured service. Non-persistent services get the canonical
/// timeout 0 and full netmask (as ipvsadm sends), so they compare exactly with a dump.
pub fn service_conf(s: &LvsService) -> ServiceConf {
    let ipv6 = key_af(&s.key) == super::codec::consts::AF_INET6;
    let mut flags = s.flags.iter().fold(0, |a, f| a | flag_bit(*f));
    let timeout = match s.persistence {
        Some(d) => {
            flags |= SVC_F_PERSISTENT;
            u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1)
        }
        None => 0,
    };
    let netmask = match (s.netmask, ipv6) {
        (Some(m), _) => m,
        (None, true) => 128,
        (None, false) => u32::MAX,
    };
    ServiceConf {
        key: s.key,
        scheduler: s.scheduler.as_str().to_owned(),
        flags,
        timeout,
        netmask,
    }
}

/// What Meridian wants in the kernel for this config and health.
pub fn desired(lvs: &Lvs, health: &RealTable) -> Desired {
    Desired {
        services: lvs
            .services
            .iter()
            .map(|s| (s.key, desired_service(s, health)))
            .collect(),
    }
}

/// One service of [`desired`].
pub fn desired_service(s: &LvsService, health: &RealTable) -> DesiredService {
    let mut dests = BTreeMap::new();
    let mut healthy_weight = 0u64;
    let mut any_up = false;
    let mut draining = BTreeSet::new();
    for r in &s.reals {
        let status = if r.drain {
            Status::Drain
        } else {
            health.get(&s.key, &r.addr).status
        };
        let weight = match (status, s.on_failure) {
            // Real servers are never `Full` (capacity is a VIP's): serve.
            (Status::Up | Status::Full, _) => {
                any_up = true;
                healthy_weight += u64::from(r.weight);
                r.weight
            }
            (Status::Drain, _) | (Status::Down | Status::Unknown, OnFailure::Drain) => {
                draining.insert(r.addr);
                0
            }
            (Status::Down | Status::Unknown, OnFailure::Weight0) => 0,
            (Status::Down | Status::Unknown, OnFailure::Remove) => continue,
        };
        dests.insert(
            r.addr,
            DestConf {
                addr: r.addr,
                forward: r.forward.unwrap_or(s.forward),
                weight,
                u_threshold: r.u_threshold,
                l_threshold: r.l_threshold,
                tunnel: Tunnel::default(),
            },
        );
    }
    let sorry_active = !any_up && s.sorry_server.is_some();
    if let (true, Some(addr)) = (sorry_active, s.sorry_server) {
        dests.insert(
            addr,
            DestConf {
                addr,
                forward: s.forward,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Tunnel::default(),
            },
        );
    }
    DesiredService {
        conf: service_conf(s),
        dests,
        healthy_weight,
        sorry_active,
        draining,
    }
}

/// A VIP's next up/down state. Up needs `quorum + hysteresis` healthy weight, down comes below
/// `quorum - hysteresis`; the first decision (`prev` None) is plain `weight >= quorum`.
pub fn vip_up(prev: Option<bool>, healthy_weight: u64, quorum: u32, hysteresis: u32) -> bool {
    let q = u64::from(quorum);
    let h = u64::from(hysteresis);
    match prev {
        None => healthy_weight >= q,
        Some(true) => healthy_weight >= q.saturating_sub(h),
        Some(false) => healthy_weight >= q + h,
    }
}

/// Up/down of every managed VIP (what the DNS side reads) and its load (what the cluster
/// publishes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VipState {
    pub services: BTreeMap<VirtualKey, bool>,
    pub load: BTreeMap<VirtualKey, VipLoad>,
}

/// A virtual service's weights and, from the kernel's last dump, its traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VipLoad {
    /// Configured weight of the real servers that are up.
    pub healthy_weight: u64,
    /// Configured weight of every real server.
    pub total_weight: u64,
    /// Active connections over every real server.
    pub active_conns: u64,
    /// New connections per second (the kernel's estimator).
    pub conn_rate: u64,
    /// The configured `capacity` in active connections (0: not configured).
    pub capacity: u64,
    /// `spill_at`/`spill_resume` in per cent of `capacity` (None: no spill).
    pub spill: Option<SpillAt>,
    /// At capacity: DNS sends no new clients here while another site can take them. Set
    /// at `spill_at`, cleared below `spill_resume` (hysteresis), from the kernel's counts.
    pub full: bool,
}

impl VipLoad {
    /// Active connections over capacity, in per mille (None without a capacity); may pass
    /// 1000 when the VIP carries more than it is sized for.
    pub fn load_permille(&self) -> Option<u64> {
        (self.capacity > 0).then(|| self.active_conns.saturating_mul(1000) / self.capacity)
    }

    /// Whether the VIP is full after a new count of its active connections: on at or above
    /// `spill_at`, off below `spill_resume`, unchanged in between.
    pub fn next_full(&self) -> bool {
        let (Some(sp), Some(permille)) = (self.spill, self.load_permille()) else {
            return false;
        };
        if permille >= u64::from(sp.at) * 10 {
            true
        } else if permille < u64::from(sp.resume) * 10 {
            false
        } else {
            self.full
        }
    }
}

fn total_weight(s: &LvsService) -> u64 {
    s.reals.iter().map(|r| u64::from(r.weight)).sum()
}

impl VipState {
    /// The next state from the previous one, the config and the desired state built for it.
    pub fn next(&self, lvs: &Lvs, want: &Desired) -> VipState {
        let mut services = BTreeMap::new();
        let mut load = BTreeMap::new();
        for s in &lvs.services {
            let w = want.services.get(&s.key).map_or(0, |d| d.healthy_weight);
            let prev = self.services.get(&s.key).copied();
            services.insert(s.key, vip_up(prev, w, s.quorum, s.hysteresis));
            let old = self.load.get(&s.key).copied().unwrap_or_default();
            load.insert(
                s.key,
                VipLoad {
                    healthy_weight: w,
                    total_weight: total_weight(s),
                    capacity: s.capacity.unwrap_or(0),
                    spill: s.spill,
                    full: old.full && s.spill.is_some(),
                    ..old
                },
            );
        }
        VipState { services, load }
    }

    /// Update one service's state in place.
    pub fn update(&mut self, s: &LvsService, want: &DesiredService) {
        let prev = self.services.get(&s.key).copied();
        let up = vip_up(prev, want.healthy_weight, s.quorum, s.hysteresis);
        self.services.insert(s.key, up);
        let l = self.load.entry(s.key).or_default();
        l.healthy_weight = want.healthy_weight;
        l.total_weight = total_weight(s);
        l.capacity = s.capacity.unwrap_or(0);
        l.spill = s.spill;
        l.full &= s.spill.is_some();
    }

    /// Takes the traffic figures of every managed service from a kernel table.
    pub fn count_traffic(&mut self, table: &super::model::Table) {
        for (svc, dests) in &table.services {
            if let Some(l) = self.load.get_mut(&svc.conf.key) {
                l.active_conns = dests.iter().map(|d| u64::from(d.active_conns)).sum();
                l.conn_rate = svc.stats.cps;
                l.full = l.next_full();
            }
        }
    }

    /// Whether an up service on an address is full (a DNS answer names the address, not the
    /// port: set `spill_at` on the service its clients use).
    pub fn ip_full(&self, ip: IpAddr) -> bool {
        self.services.iter().any(|(k, up)| {
            *up && matches!(k, VirtualKey::Addr { addr, .. } if addr.ip() == ip)
                && self.load.get(k).is_some_and(|l| l.full)
        })
    }

    /// Whether an address carries at least one up service (None: no service on it).
    pub fn ip_up(&self, ip: IpAddr) -> Option<bool> {
        let mut found = None;
        for (k, up) in &self.services {
            if let VirtualKey::Addr { addr, .. } = k
                && addr.ip() == ip
            {
                found = Some(found.unwrap_or(false) || *up);
            }
        }
        found
    }
}

#[cfg(test)]
pub(crate) mod tests;
