//! `meridian explain`: the decision for one client, with the reasons, as a serialisable
//! structure. It runs the query path's own `decide` with a recorder, so the answer shown is
//! the answer served. The route rule is found by evaluating the rules on the client's
//! attributes: the compiled table keeps one plan per distinct outcome, not per rule.

use std::net::IpAddr;

use serde::Serialize;

use super::compile::{Compiled, Plan, ServiceId};
use super::decision::{Decision, LinkRole, Outcome, TtlReason};
use super::ids::{LinkId, SiteId, TargetId};
use super::rules::{distance_km, matches};
use super::select::Trace;
use crate::config::{LinkFallback, Mode, Spill};
use crate::health::Table;

#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    pub continent: Option<String>,
    pub country: Option<String>,
    pub subdivision: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    /// The configured ISP (by CIDR list first, then by ASN).
    pub isp: Option<String>,
    pub location: Option<[f64; 2]>,
    /// The most specific route-rule CIDR containing the client.
    pub route_net: Option<String>,
    /// Widest prefix with these same attributes.
    pub attributes_prefix: u8,
}

/// One address of a link with the health authority's verdict on it.
#[derive(Debug, Clone, Serialize)]
pub struct AddrInfo {
    pub addr: IpAddr,
    pub target: TargetId,
    pub status: &'static str,
    /// Where the verdict came from (probe, start state, site/link/address override, ...).
    pub source: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkInfo {
    pub name: String,
    /// One of its addresses serves.
    pub usable: bool,
    pub addrs: Vec<AddrInfo>,
}

/// One link of the client's chain in a site: tried in this order until one is usable.
#[derive(Debug, Clone, Serialize)]
pub struct LinkStep {
    pub link: String,
    pub role: LinkRole,
    /// `used`, `skipped` or `not tried`.
    pub result: &'static str,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteInfo {
    pub name: String,
    /// A link of the client's chain is usable.
    pub usable: bool,
    pub distance_km: Option<f64>,
    pub weight: u32,
    pub capacity: u32,
    /// The first usable link of the client's chain, if any.
    pub link: Option<String>,
    /// The client's link chain in this site, with what happened to each link.
    pub chain: Vec<LinkStep>,
    pub links: Vec<LinkInfo>,
    /// The decision took this site's addresses.
    pub selected: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub service: String,
    pub client: IpAddr,
    pub qtype: &'static str,
    pub attributes: ClientInfo,
    /// 0-based index of the route rule that matches the client; None = the service's
    /// default sites.
    pub route: Option<usize>,
    pub why: String,
    pub mode: &'static str,
    /// `next` or `capacity`.
    pub spill: &'static str,
    /// `default` or `any`.
    pub link_fallback: &'static str,
    /// The client's ISP as used for link choice (None if no site of the service has a
    /// link for it).
    pub link_isp: Option<String>,
    /// Candidate sites in the order the mode considers them.
    pub sites: Vec<SiteInfo>,
    pub fallback: bool,
    pub outcome: Outcome,
    pub answer: Vec<IpAddr>,
    pub scope: u8,
    pub ttl: u32,
    /// Why this TTL: anything but the healthy first choice gets `ttl_degraded`.
    pub ttl_reason: TtlReason,
}

#[derive(Default)]
struct Recorder {
    plan: Option<Plan>,
    chosen: Vec<(SiteId, LinkId)>,
}

impl Trace for Recorder {
    fn plan(&mut self, plan: &Plan, _table_scope: u8) {
        self.plan = Some(plan.clone());
    }
    fn chosen(&mut self, site: SiteId, link: LinkId) {
        self.chosen.push((site, link));
    }
}

pub(super) fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Failover => "failover",
        Mode::All => "all",
        Mode::Weighted => "weighted",
        Mode::Nearest => "nearest",
    }
}

impl Compiled {
    /// Explain the decision [`Compiled::select`] makes for this query. None if the service
    /// id is unknown.
    pub fn explain(
        &self,
        service: ServiceId,
        client: IpAddr,
        v6: bool,
        health: &Table,
    ) -> Option<Explanation> {
        let svc = self.services.get(service.0 as usize)?;
        let mut out = Vec::new();
        let mut rec = Recorder::default();
        let d: Decision = self.decide(service, client, v6, health, &mut out, &mut rec);
        let plan = rec.plan?;
        let cl = &self.classifier;
        let c = cl.classify(client);
        let a = c.attrs;
        let s = |x: Option<crate::geo::Code>| x.map(|x| x.to_string());
        let attributes = ClientInfo {
            continent: s(a.city.continent),
            country: s(a.city.country),
            subdivision: a.city.subdivision.map(|sub| match a.city.country {
                Some(cc) => format!("{cc}-{sub}"),
                None => sub.to_string(),
            }),
            asn: a.asn,
            as_org: a.as_org.and_then(|o| cl.org_name(o)).map(str::to_owned),
            isp: a.isp.and_then(|i| cl.isp_name(i)).map(str::to_owned),
            location: a.city.location.map(|l| [l.lat, l.lon]),
            route_net: a
                .route_net
                .and_then(|i| cl.route_net(i))
                .map(|n| n.to_string()),
            attributes_prefix: c.prefix_len,
        };
        let route = svc.routes.iter().position(|m| matches(m, a, cl));
        let why = match route {
            Some(i) => format!(
                "rule #{} ({}) is the first rule all of whose keys match the client",
                i + 1,
                svc.route_text.get(i).map_or("", String::as_str)
            ),
            None if svc.routes.is_empty() => "the service has no route rules".to_owned(),
            None => "no route rule matches: the service's default sites".to_owned(),
        };
        let sites = plan
            .order
            .iter()
            .map(|&sid| {
                let site = &self.sites[sid.index()];
                let links = site
                    .links
                    .iter()
                    .map(|&l| {
                        let link = &self.links[l.index()];
                        LinkInfo {
                            name: link.name.to_string(),
                            usable: self.link_usable(l, health),
                            addrs: link
                                .addrs
                                .iter()
                                .map(|&(target, addr)| {
                                    let v = health.get(target.index());
                                    AddrInfo {
                                        addr,
                                        target,
                                        status: v.status.as_str(),
                                        source: v.source.as_str(),
                                    }
                                })
                                .collect(),
                        }
                    })
                    .collect();
                let link = self.choose_link(sid, &plan, svc, health).map(|c| c.0);
                let chain = self.link_steps(sid, &plan, svc, health);
                SiteInfo {
                    name: site.name.to_string(),
                    usable: link.is_some(),
                    distance_km: match (a.city.location, site.location) {
                        (Some(x), Some(y)) => Some(distance_km(x, y)),
                        _ => None,
                    },
                    weight: svc.weights[sid.index()],
                    capacity: site.capacity,
                    link: link.map(|l| self.links[l.index()].name.to_string()),
                    chain,
                    links,
                    selected: rec.chosen.iter().any(|&(s, _)| s == sid),
                }
            })
            .collect();
        Some(Explanation {
            service: svc.name.to_string(),
            client,
            qtype: if v6 { "AAAA" } else { "A" },
            attributes,
            route,
            why,
            mode: mode_name(plan.mode),
            spill: match svc.spill {
                Spill::Next => "next",
                Spill::Capacity => "capacity",
            },
            link_fallback: match svc.link_fallback {
                LinkFallback::Default => "default",
                LinkFallback::Any => "any",
            },
            link_isp: plan.isp.and_then(|i| cl.isp_name(i)).map(str::to_owned),
            sites,
            fallback: d.fallback,
            outcome: d.outcome,
            answer: out,
            scope: d.scope,
            ttl: d.ttl,
            ttl_reason: d.ttl_reason,
        })
    }

    /// The client's chain in one site, each link with the reason it was used or skipped.
    fn link_steps(
        &self,
        s: SiteId,
        plan: &Plan,
        svc: &super::compile::CService,
        h: &Table,
    ) -> Vec<LinkStep> {
        let mut used = false;
        self.chain(s, plan, svc)
            .map(|(l, role)| {
                let link = &self.links[l.index()];
                let (result, why) = if used {
                    (
                        "not tried",
                        "an earlier link of the chain is usable".to_owned(),
                    )
                } else if self.link_usable(l, h) {
                    used = true;
                    ("used", "an address serves".to_owned())
                } else {
                    let addrs: Vec<String> = link
                        .addrs
                        .iter()
                        .map(|&(t, ip)| {
                            let v = h.get(t.index());
                            format!("{ip} {} ({})", v.status, v.source.as_str())
                        })
                        .collect();
                    (
                        "skipped",
                        format!("no address serves: {}", addrs.join(", ")),
                    )
                };
                LinkStep {
                    link: link.name.to_string(),
                    role,
                    result,
                    why,
                }
            })
            .collect()
    }
}
