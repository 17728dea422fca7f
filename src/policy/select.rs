//! The decision itself: plan lookup, link chain, mode, spill, fallback, family, TTL.
//!
//! [`Compiled::select`] is what the DNS answer core calls per query. [`Compiled::explain`]
//! runs the same `decide` with a recorder instead of the no-op one. The rules are stated in
//! docs/policy.md; each has a test in `policy/tests`.

use std::net::IpAddr;

use super::compile::{CService, Compiled, Plan, ServiceId};
use super::decision::{Decision, LinkRole, Outcome, TtlReason};
use super::hrw::{prefix_hash, score};
use super::ids::{LinkId, SiteId, TargetId};
use crate::config::{Fallback, LinkFallback, Mode, Spill};
use crate::health::Table;

/// `weighted` answers (and `spill = "capacity"` spreads) are stable per client /24 (IPv4)
/// or /56 (IPv6) at least: the scope is narrowed to this when the plan's block is wider,
/// and the hash covers that prefix.
pub const WEIGHT_PREFIX_V4: u8 = 24;
pub const WEIGHT_PREFIX_V6: u8 = 56;

/// What `explain` wants to hear from the decision; the query path uses the no-op.
pub(super) trait Trace {
    fn plan(&mut self, _plan: &Plan, _table_scope: u8) {}
    fn chosen(&mut self, _site: SiteId, _link: LinkId) {}
    fn fallback(&mut self) {}
}

struct NoTrace;
impl Trace for NoTrace {}

/// A site's link for the client, and whether it is the client's first link there.
type Choice = (LinkId, bool);

impl Compiled {
    /// The answer for `client` asking `service` for A (`v6 = false`) or AAAA (`v6 = true`)
    /// records, with `health` the authority's table for this policy (by [`TargetId`]).
    /// `out` is cleared and receives the addresses. `client` is the ECS address if valid
    /// and routable, else the source address; IPv4-mapped IPv6 counts as IPv4 but the
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
        h: &Table,
        out: &mut Vec<IpAddr>,
        trace: &mut T,
    ) -> Decision {
        out.clear();
        let nothing = |ttl| Decision {
            outcome: Outcome::NoData,
            scope: 0,
            ttl,
            ttl_reason: TtlReason::Fallback,
            fallback: false,
        };
        let Some(svc) = self.services.get(service.0 as usize) else {
            return nothing(0);
        };
        let (plan_id, mut scope) = svc.table.lookup(client);
        let Some(plan) = svc.plans.get(plan_id as usize) else {
            return nothing(svc.ttl);
        };
        trace.plan(plan, scope);
        let mut take = |s: SiteId, l: LinkId, out: &mut Vec<IpAddr>| {
            trace.chosen(s, l);
            self.emit(l, v6, h, out);
        };
        let mut reason = None;
        match plan.mode {
            Mode::Failover | Mode::Nearest => {
                let mut rest = plan.order.iter().copied();
                let first = rest.next();
                if let Some((s, (l, first_link))) =
                    first.and_then(|s| Some((s, self.choose_link(s, plan, svc, h)?)))
                {
                    take(s, l, out);
                    reason = Some(link_reason(first_link));
                } else if svc.spill == Spill::Capacity {
                    let narrowed = scope.max(weight_prefix(client));
                    let hash = prefix_hash(client, narrowed);
                    let spread = rest.filter_map(|s| {
                        let c = self.choose_link(s, plan, svc, h)?;
                        Some((s, c, self.sites[s.index()].capacity))
                    });
                    if let Some((s, (l, _))) = highest(spread, hash, &self.sites) {
                        take(s, l, out);
                        reason = Some(TtlReason::Spill);
                        scope = narrowed;
                    }
                } else if let Some((s, (l, _))) =
                    rest.find_map(|s| Some((s, self.choose_link(s, plan, svc, h)?)))
                {
                    take(s, l, out);
                    reason = Some(TtlReason::Failover);
                }
            }
            Mode::All => {
                let (mut any, mut left_out, mut late_link) = (false, false, false);
                for &s in &plan.order {
                    match self.choose_link(s, plan, svc, h) {
                        Some((l, first_link)) => {
                            take(s, l, out);
                            any = true;
                            late_link |= !first_link;
                        }
                        None => left_out = true,
                    }
                }
                reason = any.then_some(if left_out {
                    TtlReason::SiteLeftOut
                } else {
                    link_reason(!late_link)
                });
            }
            Mode::Weighted => {
                // The hash covers the narrowed prefix; the scope narrows only when the hash
                // decides (a fallback holds for the whole block).
                let narrowed = scope.max(weight_prefix(client));
                let hash = prefix_hash(client, narrowed);
                // One pass: the top-ranked site over every weighted site, and the best
                // usable one (usability is checked only for a site that would win).
                let mut top: Option<(f64, SiteId)> = None;
                let mut best: Option<(f64, SiteId, Choice)> = None;
                for &s in &plan.order {
                    let w = svc.weights[s.index()];
                    if w == 0 {
                        continue;
                    }
                    let sc = score(hash, self.sites[s.index()].key, w);
                    if top.is_none_or(|t| sc > t.0) {
                        top = Some((sc, s));
                    }
                    if best.as_ref().is_none_or(|b| sc > b.0)
                        && let Some(c) = self.choose_link(s, plan, svc, h)
                    {
                        best = Some((sc, s, c));
                    }
                }
                if let Some((_, s, (l, first_link))) = best {
                    take(s, l, out);
                    scope = narrowed;
                    reason = Some(if top.map(|t| t.1) == Some(s) {
                        link_reason(first_link)
                    } else {
                        TtlReason::WeightedMoved
                    });
                }
            }
        }
        let fallback = reason.is_none();
        // Full VIPs (capacity-aware spill) took no client while another site could: when
        // none could, they answer before the fallback does.
        if fallback && let Some(lenient) = h.lenient() {
            let d = self.decide(service, client, v6, lenient, out, trace);
            return if d.fallback {
                d
            } else {
                Decision {
                    ttl: svc.ttl_degraded,
                    ttl_reason: TtlReason::OverCapacity,
                    ..d
                }
            };
        }
        let reason = reason.unwrap_or_else(|| {
            trace.fallback();
            match &svc.fallback {
                Fallback::None => TtlReason::Fallback,
                Fallback::All => {
                    for &s in &plan.order {
                        self.fail_open(s, plan, svc, v6, h, out);
                    }
                    TtlReason::FailOpen
                }
                Fallback::Addrs(list) => {
                    out.extend(list.iter().filter(|a| a.is_ipv6() == v6));
                    TtlReason::Fallback
                }
            }
        });
        Decision {
            outcome: if out.is_empty() {
                Outcome::NoData
            } else {
                Outcome::Answer
            },
            scope,
            ttl: if reason.is_degraded() {
                svc.ttl_degraded
            } else {
                svc.ttl
            },
            ttl_reason: reason,
            fallback,
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

    /// The links a client may use in site `s`, in the order they are tried: the link named
    /// after the client's ISP, the `default` link, then (`link_fallback = "any"`) the
    /// site's other links in configuration order. Allocates nothing.
    pub(super) fn chain<'a>(
        &'a self,
        s: SiteId,
        plan: &Plan,
        svc: &CService,
    ) -> impl Iterator<Item = (LinkId, LinkRole)> + 'a {
        let site = &self.sites[s.index()];
        let isp = plan
            .isp
            .and_then(|i| site.isp_link.get(usize::from(i)).copied().flatten());
        let default = site.default_link.filter(|&d| Some(d) != isp);
        let any = svc.link_fallback == LinkFallback::Any;
        let others = site
            .links
            .iter()
            .copied()
            .filter(move |&l| any && Some(l) != isp && Some(l) != site.default_link);
        isp.map(|l| (l, LinkRole::Isp))
            .into_iter()
            .chain(default.map(|l| (l, LinkRole::Default)))
            .chain(others.map(|l| (l, LinkRole::Other)))
    }

    /// The first usable link of the client's chain in site `s`, and whether it is the
    /// chain's first link; None when the site is not usable for this client.
    pub(super) fn choose_link(
        &self,
        s: SiteId,
        plan: &Plan,
        svc: &CService,
        h: &Table,
    ) -> Option<Choice> {
        self.chain(s, plan, svc)
            .enumerate()
            .find(|&(_, (l, _))| self.link_usable(l, h))
            .map(|(i, (l, _))| (l, i == 0))
    }

    /// Fail-open for one site: the first link of the client's chain with an address that
    /// an operator has not taken out, and its addresses of the family that are not
    /// forced out (probe results are ignored; overrides are not).
    fn fail_open(
        &self,
        s: SiteId,
        plan: &Plan,
        svc: &CService,
        v6: bool,
        h: &Table,
        out: &mut Vec<IpAddr>,
    ) {
        let allowed = |t: TargetId| !h.get(t.index()).forced_out();
        let link = self
            .chain(s, plan, svc)
            .map(|(l, _)| l)
            .find(|&l| self.links[l.index()].addrs.iter().any(|&(t, _)| allowed(t)));
        let Some(l) = link else { return };
        for &(t, ip) in &self.links[l.index()].addrs {
            if allowed(t) && ip.is_ipv6() == v6 && !out.contains(&ip) {
                out.push(ip);
            }
        }
    }

    /// The serving addresses of the family, without duplicates.
    fn emit(&self, l: LinkId, v6: bool, h: &Table, out: &mut Vec<IpAddr>) {
        for &(t, ip) in &self.links[l.index()].addrs {
            if serves(h, t) && ip.is_ipv6() == v6 && !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
}

fn link_reason(first_link: bool) -> TtlReason {
    if first_link {
        TtlReason::FirstChoice
    } else {
        TtlReason::LinkFallback
    }
}

/// The candidate with the highest rendezvous score for the prefix hash `hash` (ties: the
/// earlier one); weight-0 candidates never win.
fn highest<C>(
    candidates: impl Iterator<Item = (SiteId, C, u32)>,
    hash: u64,
    sites: &[super::compile::CSite],
) -> Option<(SiteId, C)> {
    let mut best: Option<(f64, SiteId, C)> = None;
    for (s, c, w) in candidates {
        if w == 0 {
            continue;
        }
        let sc = score(hash, sites[s.index()].key, w);
        if best.as_ref().is_none_or(|b| sc > b.0) {
            best = Some((sc, s, c));
        }
    }
    best.map(|(_, s, c)| (s, c))
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
