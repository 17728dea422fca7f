//! Service answers by service, site and link, and fallback answers by service.
//!
//! The label sets follow the configuration, so they live in two crate `Family`s; but the
//! query path never looks a label set up. When a policy is compiled, [`AnswerCounters::new`]
//! creates (or finds again, so counts survive a reload) the counter of every (service, site,
//! link) the policy can choose and keeps the handles in a dense table that the snapshot
//! holds; a query bumps `table[service][link]`. Label sets of services, sites and links that
//! left the configuration are removed from the families at the same time.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// `service`, `site`, `link`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LinkLabels {
    pub service: String,
    pub site: String,
    pub link: String,
}

/// `service`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    pub service: String,
}

/// The two families and the label sets of the last policy made into counters (a `Family`
/// cannot be listed, so the pruning needs its own record).
#[derive(Debug, Default)]
pub struct AnswerFamilies {
    /// `meridian_dns_service_answers_total{service, site, link}`.
    pub answers: Family<LinkLabels, Counter>,
    /// `meridian_dns_service_fallbacks_total{service}`.
    pub fallbacks: Family<ServiceLabel, Counter>,
    live: Mutex<(Vec<LinkLabels>, Vec<String>)>,
}

/// The process's families, the ones `/metrics` renders.
pub static FAMILIES: LazyLock<AnswerFamilies> = LazyLock::new(AnswerFamilies::default);

/// One (service, site, link) a policy can choose: indexes and names.
#[derive(Debug, Clone, Copy)]
pub struct Path<'a> {
    pub service: usize,
    pub service_name: &'a str,
    pub site_name: &'a str,
    pub link: usize,
    pub link_name: &'a str,
}

/// The counters of one compiled policy, indexed by service and link id.
#[derive(Debug, Default)]
pub struct AnswerCounters {
    /// `[service][link]`; None where the service cannot choose that link.
    links: Vec<Box<[Option<Counter>]>>,
    fallbacks: Vec<Counter>,
}

impl AnswerCounters {
    /// [`AnswerFamilies::counters`] of the process's `FAMILIES`.
    pub fn new<'a>(
        services: &[&str],
        links: usize,
        paths: impl IntoIterator<Item = Path<'a>>,
    ) -> AnswerCounters {
        FAMILIES.counters(services, links, paths)
    }

    /// Count one answer of `service` that took `link`.
    #[inline]
    pub fn chosen(&self, service: usize, link: usize) {
        if let Some(Some(c)) = self.links.get(service).and_then(|r| r.get(link)) {
            c.inc();
        }
    }

    /// Count one answer of `service` made by its fallback.
    #[inline]
    pub fn fallback(&self, service: usize) {
        if let Some(c) = self.fallbacks.get(service) {
            c.inc();
        }
    }
}

impl AnswerFamilies {
    /// Counters for `services` (names by id), `links` link ids and every `paths` entry;
    /// then the families keep only these label sets.
    pub fn counters<'a>(
        &self,
        services: &[&str],
        links: usize,
        paths: impl IntoIterator<Item = Path<'a>>,
    ) -> AnswerCounters {
        let mut table: Vec<Box<[Option<Counter>]>> = services
            .iter()
            .map(|_| vec![None; links].into_boxed_slice())
            .collect();
        let mut keep = HashSet::new();
        for p in paths {
            let labels = LinkLabels {
                service: p.service_name.to_string(),
                site: p.site_name.to_string(),
                link: p.link_name.to_string(),
            };
            let counter = self.answers.get_or_create_owned(&labels);
            if let Some(slot) = table.get_mut(p.service).and_then(|r| r.get_mut(p.link)) {
                *slot = Some(counter);
            }
            keep.insert(labels);
        }
        let fallbacks = services
            .iter()
            .map(|s| {
                self.fallbacks.get_or_create_owned(&ServiceLabel {
                    service: s.to_string(),
                })
            })
            .collect();
        self.prune(keep, services);
        AnswerCounters {
            links: table,
            fallbacks,
        }
    }

    /// Remove from the families the label sets of the last policy that `links` and
    /// `services` no longer have; their counters, if an old snapshot still holds them, keep
    /// counting but are no longer rendered.
    fn prune(&self, links: HashSet<LinkLabels>, services: &[&str]) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        for l in live.0.iter().filter(|l| !links.contains(*l)) {
            self.answers.remove(l);
        }
        for s in live.1.iter().filter(|s| !services.contains(&s.as_str())) {
            self.fallbacks.remove(&ServiceLabel { service: s.clone() });
        }
        *live = (
            links.into_iter().collect(),
            services.iter().map(|s| s.to_string()).collect(),
        );
    }
}
