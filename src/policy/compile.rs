//! Compiling the configuration into sites, links, addresses and per-service plan tables.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::PolicyError;
use crate::config::{Config, Fallback, Location, Match, Mode};
use crate::geo::{Attributes, Classifier, Code, IspId, KeyTable, normalize_net};

/// Index of a service in [`Compiled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceId(pub u32);
/// Index of a site (name order).
pub type SiteId = u16;
/// Index of a link over all sites.
pub type LinkId = u32;
/// Index of a distinct address (sorted) in the health view.
pub type AddrId = u32;

#[derive(Debug)]
pub(super) struct CSite {
    pub name: Box<str>,
    pub location: Option<Location>,
    pub default_link: Option<LinkId>,
    /// Indexed by [`IspId`]: the link named after that ISP.
    pub isp_link: Vec<Option<LinkId>>,
    pub links: Vec<LinkId>,
}

#[derive(Debug)]
pub(super) struct CLink {
    pub name: Box<str>,
    pub site: SiteId,
    pub addrs: Vec<(AddrId, IpAddr)>,
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
pub(super) struct CMatch {
    pub continents: Vec<Code>,
    pub countries: Vec<Code>,
    /// (country if given as `CC-SUB`, subdivision)
    pub subdivisions: Vec<(Option<Code>, Code)>,
    pub asns: Vec<u32>,
    /// Unknown ISP names compile to nothing and never match.
    pub isps: Vec<IspId>,
    pub cidrs: Vec<IpNet>,
}

#[derive(Debug)]
pub(super) struct CService {
    pub name: Box<str>,
    pub ttl: u32,
    pub fallback: Fallback,
    /// Indexed by [`SiteId`]; sites without a weight count 1.
    pub weights: Vec<u32>,
    pub routes: Vec<CMatch>,
    /// Each route's match as written, for `explain`.
    pub route_text: Vec<String>,
    pub plans: Vec<Plan>,
    pub table: KeyTable,
}

/// A health-checked thing, as the health engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub site: String,
    pub link: String,
    pub addr: IpAddr,
    pub site_id: SiteId,
    pub link_id: LinkId,
    pub addr_id: AddrId,
}

/// The compiled policy. Immutable; share it behind an `Arc` in the snapshot.
#[derive(Debug)]
pub struct Compiled {
    pub(super) classifier: Arc<Classifier>,
    pub(super) sites: Vec<CSite>,
    pub(super) links: Vec<CLink>,
    pub(super) addrs: Vec<IpAddr>,
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
        let addrs: Vec<IpAddr> = config
            .sites
            .values()
            .flat_map(|s| s.links.values().flatten().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let addr_id = |a: &IpAddr| addrs.binary_search(a).unwrap_or(0) as AddrId;
        let isp_count = classifier.isp_names().len();
        let mut sites = Vec::new();
        let mut links = Vec::new();
        for (si, (name, site)) in config.sites.iter().enumerate() {
            let si = SiteId::try_from(si).map_err(|_| too_many("sites"))?;
            let mut cs = CSite {
                name: name.as_str().into(),
                location: site.location,
                default_link: None,
                isp_link: vec![None; isp_count],
                links: Vec::new(),
            };
            for (lname, laddrs) in &site.links {
                let lid = LinkId::try_from(links.len()).map_err(|_| too_many("links"))?;
                links.push(CLink {
                    name: lname.as_str().into(),
                    site: si,
                    addrs: laddrs.iter().map(|a| (addr_id(a), *a)).collect(),
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
                .map(|i| i as SiteId)
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
                weights[usize::from(site_id(sname, n)?)] = *w;
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
                        .any(|&s| sites[usize::from(s)].isp_link[i].is_some())
                })
                .collect();
            let mut plans: Vec<Plan> = Vec::new();
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
                        id
                    }
                };
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
                fallback: svc.fallback.clone(),
                weights,
                routes,
                route_text: svc.routes.iter().map(|r| match_text(&r.matcher)).collect(),
                plans,
                table,
            });
        }
        Ok(Compiled {
            classifier,
            sites,
            links,
            addrs,
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
            .map(|i| i as SiteId)
    }

    pub fn link_id(&self, site: &str, link: &str) -> Option<LinkId> {
        let s = &self.sites[usize::from(self.site_id(site)?)];
        s.links
            .iter()
            .copied()
            .find(|&l| &*self.links[l as usize].name == link)
    }

    pub fn addr_id(&self, addr: IpAddr) -> Option<AddrId> {
        self.addrs.binary_search(&addr).ok().map(|i| i as AddrId)
    }

    /// Every (site, link, address) with its health indices.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for (lid, l) in self.links.iter().enumerate() {
            for &(aid, addr) in &l.addrs {
                out.push(Target {
                    site: self.sites[usize::from(l.site)].name.to_string(),
                    link: l.name.to_string(),
                    addr,
                    site_id: l.site,
                    link_id: lid as LinkId,
                    addr_id: aid,
                });
            }
        }
        out
    }

    pub(super) fn counts(&self) -> (usize, usize, usize) {
        (self.sites.len(), self.links.len(), self.addrs.len())
    }
}

/// `country=[CN] isp=[telecom]`: the non-empty keys of a match.
fn match_text(m: &Match) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut add = |k: &str, v: Vec<String>| {
        if !v.is_empty() {
            parts.push(format!("{k}=[{}]", v.join(", ")));
        }
    };
    add("continent", m.continents.clone());
    add("country", m.countries.clone());
    add("subdivision", m.subdivisions.clone());
    add("asn", m.asns.iter().map(u32::to_string).collect());
    add("isp", m.isps.clone());
    add("cidr", m.cidrs.iter().map(IpNet::to_string).collect());
    if parts.is_empty() {
        "match everything".to_owned()
    } else {
        parts.join(" ")
    }
}

fn code_list(values: &[String]) -> Vec<Code> {
    values.iter().filter_map(|v| Code::new(v)).collect()
}

fn compile_match(m: &Match, cl: &Classifier) -> CMatch {
    CMatch {
        continents: code_list(&m.continents),
        countries: code_list(&m.countries),
        subdivisions: m
            .subdivisions
            .iter()
            .filter_map(|s| match s.split_once('-') {
                Some((c, sub)) => Some((Some(Code::new(c)?), Code::new(sub)?)),
                None => Some((None, Code::new(s)?)),
            })
            .collect(),
        asns: m.asns.clone(),
        isps: m.isps.iter().filter_map(|n| cl.isp_id(n)).collect(),
        cidrs: m.cidrs.iter().map(|n| normalize_net(*n)).collect(),
    }
}

/// A rule's lists are OR within a key and AND across keys; an empty key does not constrain;
/// a key whose values are all unusable (e.g. an unknown ISP) matches nothing.
pub(super) fn matches(m: &CMatch, a: &Attributes, cl: &Classifier) -> bool {
    fn key<T>(list: &[T], configured: bool, f: impl Fn(&T) -> bool) -> bool {
        !configured || list.iter().any(f)
    }
    let c = &a.city;
    key(&m.continents, !m.continents.is_empty(), |x| {
        c.continent == Some(*x)
    }) && key(&m.countries, !m.countries.is_empty(), |x| {
        c.country == Some(*x)
    }) && key(&m.subdivisions, !m.subdivisions.is_empty(), |(cc, sub)| {
        c.subdivision == Some(*sub) && cc.is_none_or(|cc| c.country == Some(cc))
    }) && key(&m.asns, !m.asns.is_empty(), |x| a.asn == Some(*x))
        && key(&m.isps, !m.isps.is_empty(), |x| a.isp == Some(*x))
        && key(&m.cidrs, !m.cidrs.is_empty(), |x| {
            a.route_net
                .and_then(|i| cl.route_net(i))
                .is_some_and(|inner| x.contains(&inner))
        })
}

/// Great-circle distance in km (haversine, mean Earth radius).
pub(super) fn distance_km(a: Location, b: Location) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// Sites with a location nearest first (ties keep list order), then the others in list
/// order; without client coordinates, list order.
fn by_distance(list: &[SiteId], sites: &[CSite], client: Option<Location>) -> Vec<SiteId> {
    let Some(c) = client else {
        return list.to_vec();
    };
    let mut keyed: Vec<(usize, f64, SiteId)> = list
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let d = sites[usize::from(s)]
                .location
                .map_or(f64::INFINITY, |l| distance_km(c, l));
            (i, d, s)
        })
        .collect();
    keyed.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    keyed.into_iter().map(|k| k.2).collect()
}
