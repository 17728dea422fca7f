//! What a service answers right now, plan by plan, for the status document: for every plan
//! (the routes that lead to it, the mode, the ordered sites, the ISP whose links count) the
//! A and AAAA answers a client of that plan gets under the current health table.
//!
//! It runs the query path's own decision for one example client of each plan (the first
//! address of the plan's first block), so it shows the real answer. For `weighted` and for
//! `spill = "capacity"` the answer also depends on the client's prefix: the example's is shown.

use std::net::IpAddr;

use serde::Serialize;

use super::compile::{Compiled, ServiceId};
use super::decision::Decision;
use super::explain::mode_name;
use crate::health::Table;

/// The current answer of one plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanAnswer {
    /// The route rules that lead here as written; "default" for the service's own sites.
    pub routes: Vec<String>,
    pub mode: &'static str,
    /// Sites in the order the mode considers them.
    pub sites: Vec<String>,
    /// The client ISP whose links are preferred, if any.
    pub isp: Option<String>,
    /// The client the answers were computed for.
    pub client: IpAddr,
    pub a: Vec<IpAddr>,
    pub aaaa: Vec<IpAddr>,
    pub ttl: u32,
    /// Why this TTL (first choice, failover, fallback, ...).
    pub why: &'static str,
    /// Nothing was usable and the service's fallback answered.
    pub fallback: bool,
}

impl Compiled {
    /// Every plan of `service` with its current answer, at most `max` of them (a service
    /// with `mode = "nearest"` over a city database can have one plan per location).
    /// Returns the answers and the number of plans in all.
    pub fn current_answers(
        &self,
        service: ServiceId,
        health: &Table,
        max: usize,
    ) -> (Vec<PlanAnswer>, usize) {
        let Some(svc) = self.services.get(service.0 as usize) else {
            return (Vec::new(), 0);
        };
        let mut out = Vec::new();
        let mut addrs = Vec::new();
        for (id, plan) in svc.plans.iter().enumerate().take(max) {
            let Some(client) = u32::try_from(id)
                .ok()
                .and_then(|id| svc.table.first_with(id))
            else {
                continue;
            };
            let mut run = |v6: bool| -> (Decision, Vec<IpAddr>) {
                let d = self.select(service, client, v6, health, &mut addrs);
                (d, addrs.clone())
            };
            let (d4, a) = run(false);
            let (_, aaaa) = run(true);
            let routes = svc
                .plan_routes
                .get(id)
                .into_iter()
                .flatten()
                .map(|r| match r {
                    Some(i) => svc
                        .route_text
                        .get(usize::from(*i))
                        .cloned()
                        .unwrap_or_else(|| format!("route {i}")),
                    None => "default".to_owned(),
                })
                .collect();
            out.push(PlanAnswer {
                routes,
                mode: mode_name(plan.mode),
                sites: plan
                    .order
                    .iter()
                    .filter_map(|s| self.sites.get(s.index()).map(|s| s.name.to_string()))
                    .collect(),
                isp: plan
                    .isp
                    .and_then(|i| self.classifier.isp_name(i))
                    .map(str::to_owned),
                client,
                a,
                aaaa,
                ttl: d4.ttl,
                why: d4.ttl_reason.as_str(),
                fallback: d4.fallback,
            });
        }
        (out, svc.plans.len())
    }
}
