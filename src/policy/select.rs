//! The decision itself: plan lookup, health filter, link choice, mode, fallback, family.
//!
//! [`Compiled::select`] is what the DNS answer core calls per query. [`Compiled::explain`]
//! runs the same `decide` with a recorder instead of the no-op one.

use std::net::IpAddr;

use serde::Serialize;

use super::compile::{CService, Compiled, Plan, ServiceId};
use super::ids::{LinkId, SiteId, TargetId};
use crate::config::{Fallback, Mode};
use crate::health::Table;

/// `weighted` answers are stable per client /24 (IPv4) or /56 (IPv6) at least: the scope
/// is narrowed to this when the plan's block is wider, and the hash covers that prefix.
pub const WEIGHT_PREFIX_V4: u8 = 24;
pub const WEIGHT_PREFIX_V6: u8 = 56;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The addresses are in the caller's `out`.
    Answer,
    /// No address of the asked family: NOERROR with an empty answer.
    NoData,
}

/// The result of one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// ECS scope: the widest prefix of the client's family over which this answer holds.
    pub scope: u8,
    pub ttl: u32,
    /// Nothing was healthy and the service's `fallback` produced the answer.
    pub fallback: bool,
}

/// What `explain` wants to hear from the decision; the query path uses the no-op.
pub(super) trait Trace {
    fn plan(&mut self, _plan: &Plan, _table_scope: u8) {}
    fn chosen(&mut self, _site: SiteId, _link: LinkId) {}
    fn fallback(&mut self) {}
}

struct NoTrace;
impl Trace for NoTrace {}

impl Compiled {
    /// The answer for `client` asking `service` for A (`v6 = false`) or AAAA (`v6 = true`)
    /// records. `out` is cleared and receives the addresses. `client` is the ECS address if
    /// valid and routable, else the source address; IPv4-mapped IPv6 counts as IPv4 but the
    /// scope is then in IPv6 terms. No allocation once `out` has capacity; no lock, no I/O.
    #[inline]
    pub fn select(
        &self,
        service: ServiceId,
        client: IpAddr,
        v6: bool,
        health: &Table,
        out: &mut Vec<IpAddr>,
    ) -> Decision {
        self.decide(service, client, v6, health, out, &mut NoTrace)
    }

    pub(super) fn decide<T: Trace>(
        &self,
        service: ServiceId,
        client: IpAddr,
        v6: bool,
        health: &Table,
        out: &mut Vec<IpAddr>,
        trace: &mut T,
    ) -> Decision {
        out.clear();
        let Some(svc) = self.services.get(service.0 as usize) else {
            return Decision {
                outcome: Outcome::NoData,
                scope: 0,
                ttl: 0,
                fallback: false,
            };
        };
        let (plan_id, mut scope) = svc.table.lookup(client);
        let Some(plan) = svc.plans.get(plan_id as usize) else {
            return Decision {
                outcome: Outcome::NoData,
                scope: 0,
                ttl: svc.ttl,
                fallback: false,
            };
        };
        trace.plan(plan, scope);
        let mut any = false;
        match plan.mode {
            Mode::Failover | Mode::Nearest => {
                for &s in &plan.order {
                    if let Some(l) = self.choose_link(s, plan, health) {
                        trace.chosen(s, l);
                        self.emit(l, v6, Some(health), out);
                        any = true;
                        break;
                    }
                }
            }
            Mode::All => {
                for &s in &plan.order {
                    if let Some(l) = self.choose_link(s, plan, health) {
                        trace.chosen(s, l);
                        self.emit(l, v6, Some(health), out);
                        any = true;
                    }
                }
            }
            Mode::Weighted => {
                if let Some((s, l, narrowed)) = self.weighted(svc, plan, client, scope, health) {
                    trace.chosen(s, l);
                    self.emit(l, v6, Some(health), out);
                    scope = narrowed;
                    any = true;
                }
            }
        }
        if !any {
            trace.fallback();
            match &svc.fallback {
                Fallback::None => {}
                Fallback::All => {
                    for &s in &plan.order {
                        if let Some(l) = self.link_ignoring_health(s, plan) {
                            self.emit(l, v6, None, out);
                        }
                    }
                }
                Fallback::Addrs(list) => {
                    out.extend(list.iter().filter(|a| a.is_ipv6() == v6));
                }
            }
        }
        Decision {
            outcome: if out.is_empty() {
                Outcome::NoData
            } else {
                Outcome::Answer
            },
            scope,
            ttl: svc.ttl,
            fallback: !any,
        }
    }

    /// A link with at least one target that serves (site and link overrides are already
    /// part of each target's verdict).
    pub(super) fn link_usable(&self, l: LinkId, h: &Table) -> bool {
        self.links[l.index()]
            .addrs
            .iter()
            .any(|&(t, _)| serves(h, t))
    }

    /// The link named after the client's ISP if usable, else the `default` link if usable;
    /// None if neither link is usable.
    pub(super) fn choose_link(&self, s: SiteId, plan: &Plan, h: &Table) -> Option<LinkId> {
        let site = &self.sites[s.index()];
        let isp_link = plan
            .isp
            .and_then(|i| site.isp_link.get(usize::from(i)).copied().flatten());
        isp_link
            .filter(|&l| self.link_usable(l, h))
            .or(site.default_link.filter(|&l| self.link_usable(l, h)))
    }

    fn link_ignoring_health(&self, s: SiteId, plan: &Plan) -> Option<LinkId> {
        let site = &self.sites[s.index()];
        plan.isp
            .and_then(|i| site.isp_link.get(usize::from(i)).copied().flatten())
            .or(site.default_link)
    }

    /// Healthy (or, without `h`, all) addresses of the family, without duplicates.
    fn emit(&self, l: LinkId, v6: bool, h: Option<&Table>, out: &mut Vec<IpAddr>) {
        for &(t, ip) in &self.links[l.index()].addrs {
            let up = h.is_none_or(|h| serves(h, t));
            if up && ip.is_ipv6() == v6 && !out.contains(&ip) {
                out.push(ip);
            }
        }
    }

    /// Pick one usable site by weight, stable for the client's prefix. Returns the site,
    /// its link and the (possibly narrowed) scope.
    fn weighted(
        &self,
        svc: &CService,
        plan: &Plan,
        client: IpAddr,
        scope: u8,
        h: &Table,
    ) -> Option<(SiteId, LinkId, u8)> {
        let weight = |s: SiteId| u64::from(svc.weights[s.index()]);
        let total: u64 = plan
            .order
            .iter()
            .filter(|&&s| weight(s) > 0 && self.choose_link(s, plan, h).is_some())
            .map(|&s| weight(s))
            .sum();
        if total == 0 {
            return None;
        }
        let scope = scope.max(weight_prefix(client));
        let mut pick = prefix_hash(client, scope) % total;
        for &s in &plan.order {
            let w = weight(s);
            if w == 0 {
                continue;
            }
            if let Some(l) = self.choose_link(s, plan, h) {
                if pick < w {
                    return Some((s, l, scope));
                }
                pick -= w;
            }
        }
        None
    }
}

/// Whether target `t` takes new clients.
#[inline]
pub(super) fn serves(h: &Table, t: TargetId) -> bool {
    h.get(t.index()).serves()
}

/// The weighted-mode prefix in the client's own terms (IPv4-mapped: 96 + the IPv4 one).
pub(super) fn weight_prefix(client: IpAddr) -> u8 {
    match client {
        IpAddr::V4(_) => WEIGHT_PREFIX_V4,
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => 96 + WEIGHT_PREFIX_V4,
        IpAddr::V6(_) => WEIGHT_PREFIX_V6,
    }
}

/// A fixed (restart-stable) hash of the client's address masked to `len` bits.
pub(super) fn prefix_hash(client: IpAddr, len: u8) -> u64 {
    let (bits, width) = match client {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (u128::from(a), 128u32),
    };
    let host = width.saturating_sub(u32::from(len));
    let masked = if host >= 128 { 0 } else { bits >> host << host };
    let mut x = (masked as u64) ^ ((masked >> 64) as u64).rotate_left(29) ^ u64::from(len) << 56;
    // splitmix64 finaliser
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
