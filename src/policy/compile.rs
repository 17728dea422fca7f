//! Compiling the configuration into sites, links, addresses and per-service plan tables.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use super::PolicyError;
use super::ids::{LinkId, SiteId, Target, TargetId};
use super::rules::{CMatch, by_distance, compile_match, match_text, matches};
use crate::config::{Config, Fallback, LinkFallback, Location, Mode, Spill};
use crate::geo::{Classifier, IspId, KeyTable};

/// Index of a service in [`Compiled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceId(pub u32);

#[derive(Debug)]
pub(super) struct CSite {
    pub name: Box<str>,
    /// A fixed hash of the name: the site's key in rendezvous hashing, so adding or
    /// removing another site does not change this site's scores.
    pub key: u64,
    pub location: Option<Location>,
    /// Share of a failed first site's clients under `spill = "capacity"`.
    pub capacity: u32,
    pub default_link: Option<LinkId>,
    /// Indexed by [`IspId`]: the link named after that ISP.
    pub isp_link: Vec<Option<LinkId>>,
    /// In configuration order.
    pub links: Vec<LinkId>,
}

#[derive(Debug)]
pub(super) struct CLink {
    pub name: Box<str>,
    /// Each address with its target: the index of its verdict in the health table.
    pub addrs: Vec<(TargetId, IpAddr)>,
}

/// Everything an answer depends on apart from health and (for `weighted`) the prefix hash.
/// The rule that led to a plan is not part of it: clients matched by different rules that
/// lead to the same mode, sites and link ISP get the same answers, so they share one plan
/// and one block of the prefix table, and the ECS scope is as wide as the answer allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub mode: Mode,
    pub order: Vec<SiteId>,
    pub isp: Option<IspId>,
}

impl std::hash::Hash for Plan {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let mode: u8 = match self.mode {
            Mode::Failover => 0,
            Mode::All => 1,
            Mode::Weighted => 2,
            Mode::Nearest => 3,
        };
        (mode, &self.order, self.isp).hash(h);
    }
}

#[derive(Debug)]
pub(super) struct CService {
    pub name: Box<str>,
    pub ttl: u32,
    pub ttl_degraded: u32,
    pub spill: Spill,
    pub link_fallback: LinkFallback,
    pub fallback: Fallback,
    /// Indexed by [`SiteId`]; sites without a weight count 1.
    pub weights: Vec<u32>,
    pub routes: Vec<CMatch>,
    /// Each route's match as written, for `explain`.
    pub route_text: Vec<String>,
    pub plans: Vec<Plan>,
    /// Per plan, the routes that lead to it (None: the service's default), for status views.
    pub plan_routes: Vec<Vec<Option<u16>>>,
    pub table: KeyTable,
}

/// The compiled policy. Immutable; share it behind an `Arc` in the snapshot.
#[derive(Debug)]
pub struct Compiled {
    pub(super) classifier: Arc<Classifier>,
    pub(super) sites: Vec<CSite>,
    pub(super) links: Vec<CLink>,
    /// Every (link, address) occurrence in [`TargetId`] order.
    pub(super) targets: Vec<Target>,
    pub(super) services: Vec<CService>,
    by_name: HashMap<Box<[u8]>, ServiceId>,
}

fn too_many(what: &'static str) -> PolicyError {
    PolicyError::TooMany(what)
}

impl Compiled {
    /// Compile `config`, building the classifier (reads the geo databases and CIDR files).
    pub fn new(config: &Config) -> Result<Compiled, PolicyError> {
        let classifier = Arc::new(Classifier::build(config)?);
        Compiled::with_classifier(config, classifier)
    }

    /// Compile `config` with an already built classifier (it must have been built from the
    /// same configuration's ISPs and route CIDRs).
    pub fn with_classifier(
        config: &Config,
        classifier: Arc<Classifier>,
    ) -> Result<Compiled, PolicyError> {
        let isp_count = classifier.isp_names().len();
        let mut sites = Vec::new();
        let mut links = Vec::new();
        let mut targets = Vec::new();
        for (si, (name, site)) in config.sites.iter().enumerate() {
            let si = SiteId(u16::try_from(si).map_err(|_| too_many("sites"))?);
            let mut cs = CSite {
                name: name.as_str().into(),
                key: super::hrw::name_key(name),
                location: site.location,
                capacity: site.capacity,
                default_link: None,
                isp_link: vec![None; isp_count],
                links: Vec::new(),
            };
            // Configuration order; names missing from `link_order` (a hand-built config) last.
            let order = site
                .link_order
                .iter()
                .filter(|n| site.links.contains_key(*n))
                .chain(site.links.keys().filter(|n| !site.link_order.contains(n)));
            for lname in order {
                let Some(laddrs) = site.links.get(lname) else {
                    continue;
                };
                let lid = LinkId(u32::try_from(links.len()).map_err(|_| too_many("links"))?);
                let mut addrs = Vec::with_capacity(laddrs.len());
                for &addr in laddrs {
                    let id =
                        TargetId(u32::try_from(targets.len()).map_err(|_| too_many("targets"))?);
                    targets.push(Target {
                        id,
                        site: name.clone(),
                        link: lname.clone(),
                        addr,
                        site_id: si,
                        link_id: lid,
                    });
                    addrs.push((id, addr));
                }
                links.push(CLink {
                    name: lname.as_str().into(),
                    addrs,
                });
                cs.links.push(lid);
                if lname == "default" {
                    cs.default_link = Some(lid);
                } else if let Some(i) = classifier.isp_id(lname) {
                    cs.isp_link[usize::from(i)] = Some(lid);
                }
            }
            sites.push(cs);
        }
        let site_id = |service: &str, name: &str| {
            config
                .sites
                .keys()
                .position(|k| k == name)
                .map(|i| SiteId(i as u16))
                .ok_or_else(|| PolicyError::UnknownSite {
                    service: service.to_owned(),
                    site: name.to_owned(),
                })
        };
        let mut services = Vec::new();
        let mut by_name = HashMap::new();
        for (sname, svc) in &config.services {
            let sid = ServiceId(u32::try_from(services.len()).map_err(|_| too_many("services"))?);
            let ids = |list: &[String]| -> Result<Vec<SiteId>, PolicyError> {
                list.iter().map(|n| site_id(sname, n)).collect()
            };
            let default_sites = ids(&svc.sites)?;
            let mut route_sites = Vec::new();
            for r in &svc.routes {
                route_sites.push(ids(&r.sites)?);
            }
            let mut weights = vec![1u32; sites.len()];
            for (n, w) in &svc.weights {
                weights[site_id(sname, n)?.index()] = *w;
            }
            let routes: Vec<CMatch> = svc
                .routes
                .iter()
                .map(|r| compile_match(&r.matcher, &classifier))
                .collect();
            // An ISP matters for this service only if one of its sites has a link for it.
            let all_sites: BTreeSet<SiteId> = default_sites
                .iter()
                .chain(route_sites.iter().flatten())
                .copied()
                .collect();
            let isp_relevant: Vec<bool> = (0..isp_count)
                .map(|i| {
                    all_sites
                        .iter()
                        .any(|&s| sites[s.index()].isp_link[i].is_some())
                })
                .collect();
            let mut plans: Vec<Plan> = Vec::new();
            let mut plan_routes: Vec<Vec<Option<u16>>> = Vec::new();
            let mut plan_ids: HashMap<Plan, u32> = HashMap::new();
            let mut key_of_attr = Vec::with_capacity(classifier.attributes().len());
            for attrs in classifier.attributes() {
                let route = routes
                    .iter()
                    .position(|m| matches(m, attrs, &classifier))
                    .map(|i| u16::try_from(i).map_err(|_| too_many("routes")))
                    .transpose()?;
                let (list, mode) = match route {
                    Some(i) => {
                        let r = &svc.routes[usize::from(i)];
                        (&route_sites[usize::from(i)], r.mode.unwrap_or(svc.mode))
                    }
                    None => (&default_sites, svc.mode),
                };
                let order = if mode == Mode::Nearest {
                    by_distance(list, &sites, attrs.city.location)
                } else {
                    list.clone()
                };
                let isp = attrs.isp.filter(|&i| isp_relevant[usize::from(i)]);
                let plan = Plan { mode, order, isp };
                let id = match plan_ids.get(&plan) {
                    Some(&id) => id,
                    None => {
                        let id = plans.len() as u32;
                        plan_ids.insert(plan.clone(), id);
                        plans.push(plan);
                        plan_routes.push(Vec::new());
                        id
                    }
                };
                if let Some(list) = plan_routes.get_mut(id as usize)
                    && !list.contains(&route)
                {
                    list.push(route);
                }
                key_of_attr.push(id);
            }
            let table = classifier
                .table()
                .project(|a| key_of_attr.get(a as usize).copied().unwrap_or(0));
            let key = svc.fqdn.trim_end_matches('.').to_ascii_lowercase();
            by_name.insert(key.into_bytes().into_boxed_slice(), sid);
            services.push(CService {
                name: sname.as_str().into(),
                ttl: svc.ttl,
                ttl_degraded: svc.ttl_degraded,
                spill: svc.spill,
                link_fallback: svc.link_fallback,
                fallback: svc.fallback.clone(),
                weights,
                routes,
                route_text: svc.routes.iter().map(|r| match_text(&r.matcher)).collect(),
                plans,
                plan_routes,
                table,
            });
        }
        Ok(Compiled {
            classifier,
            sites,
            links,
            targets,
            services,
            by_name,
        })
    }

    /// The service bound to a lower-case owner name (with or without the trailing dot).
    /// Hashes the name; no allocation.
    #[inline]
    pub fn service_id(&self, lower_name: &str) -> Option<ServiceId> {
        self.service_id_bytes(lower_name.as_bytes())
    }

    /// [`Compiled::service_id`] for a name in presentation bytes.
    #[inline]
    pub fn service_id_bytes(&self, lower_name: &[u8]) -> Option<ServiceId> {
        let name = lower_name.strip_suffix(b".").unwrap_or(lower_name);
        self.by_name.get(name).copied()
    }

    /// Every service's DNS name (lower case, no trailing dot) with its id.
    pub fn service_names(&self) -> impl Iterator<Item = (&str, ServiceId)> {
        self.by_name
            .iter()
            .map(|(k, v)| (std::str::from_utf8(k).unwrap_or(""), *v))
    }

    pub fn service_name(&self, id: ServiceId) -> Option<&str> {
        self.services.get(id.0 as usize).map(|s| &*s.name)
    }

    pub fn classifier(&self) -> &Arc<Classifier> {
        &self.classifier
    }

    pub fn site_id(&self, name: &str) -> Option<SiteId> {
        self.sites
            .iter()
            .position(|s| &*s.name == name)
            .map(|i| SiteId(i as u16))
    }

    pub fn link_id(&self, site: &str, link: &str) -> Option<LinkId> {
        let s = &self.sites[self.site_id(site)?.index()];
        s.links
            .iter()
            .copied()
            .find(|&l| &*self.links[l.index()].name == link)
    }

    /// Every target (one per (link, address) occurrence) in [`TargetId`] order: what the
    /// health authority registers for the policy. The authority's table for this policy
    /// must hold `targets().len()` verdicts, the verdict of target `t` at `t.id.index()`;
    /// a shorter table reads the missing targets as down.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The targets of one address (in every link that lists it).
    pub fn targets_of(&self, addr: IpAddr) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(move |t| t.addr == addr)
    }
}
