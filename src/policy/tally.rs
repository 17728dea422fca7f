//! What a decision chose, for counting: [`Compiled::select_tallied`] is [`Compiled::select`]
//! that also tells a [`Tally`] each (site, link) it took and whether the fallback answered,
//! and [`Compiled::answer_paths`] lists every (service, site, link) a decision can take, so
//! that the counters can be made once per compile instead of looked up per query.

use std::net::IpAddr;

use super::compile::{Compiled, ServiceId};
use super::decision::Decision;
use super::ids::{LinkId, SiteId};
use super::select::Trace;
use crate::health::Table;

/// Told what a decision took.
pub trait Tally {
    /// A site's link gave addresses to the answer (with `mode = "all"`, once per site).
    fn chosen(&mut self, site: SiteId, link: LinkId);
    /// Nothing was usable: the service's `fallback` made the answer.
    fn fallback(&mut self);
}

struct Forward<'a, T>(&'a mut T);

impl<T: Tally> Trace for Forward<'_, T> {
    fn chosen(&mut self, site: SiteId, link: LinkId) {
        self.0.chosen(site, link);
    }
    fn fallback(&mut self) {
        self.0.fallback();
    }
}

/// One (service, site, link) a decision can take, with the names that label it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerPath<'a> {
    pub service: ServiceId,
    pub service_name: &'a str,
    pub site_name: &'a str,
    pub link: LinkId,
    pub link_name: &'a str,
}

impl Compiled {
    /// [`Compiled::select`], telling `tally` what it took. Allocates nothing.
    #[inline]
    pub fn select_tallied<T: Tally>(
        &self,
        service: ServiceId,
        client: IpAddr,
        v6: bool,
        health: &Table,
        out: &mut Vec<IpAddr>,
        tally: &mut T,
    ) -> Decision {
        self.decide(service, client, v6, health, out, &mut Forward(tally))
    }

    /// Number of services (ids are `0..service_count()`).
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Number of links over all sites (ids are `0..link_count()`).
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Every link of every site a service's rules or default order can pick, per service
    /// in id order, each site once.
    pub fn answer_paths(&self) -> Vec<AnswerPath<'_>> {
        let mut out = Vec::new();
        for (i, svc) in self.services.iter().enumerate() {
            let mut sites: Vec<SiteId> = svc.plans.iter().flat_map(|p| p.order.clone()).collect();
            sites.sort_unstable();
            sites.dedup();
            for s in sites {
                let Some(site) = self.sites.get(s.index()) else {
                    continue;
                };
                for &l in &site.links {
                    let Some(link) = self.links.get(l.index()) else {
                        continue;
                    };
                    out.push(AnswerPath {
                        service: ServiceId(i as u32),
                        service_name: &svc.name,
                        site_name: &site.name,
                        link: l,
                        link_name: &link.name,
                    });
                }
            }
        }
        out
    }
}
