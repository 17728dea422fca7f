//! Route rules and distances: compiling a rule's `match` and evaluating it on a client's
//! attributes, and ordering sites by great-circle distance for `nearest`.

use ipnet::IpNet;

use super::compile::CSite;
use super::ids::SiteId;
use crate::config::{Location, Match};
use crate::geo::{Attributes, Classifier, Code, IspId, normalize_net};

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

/// `country=[CN] isp=[telecom]`: the non-empty keys of a match.
pub(super) fn match_text(m: &Match) -> String {
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

pub(super) fn compile_match(m: &Match, cl: &Classifier) -> CMatch {
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
pub(super) fn by_distance(
    list: &[SiteId],
    sites: &[CSite],
    client: Option<Location>,
) -> Vec<SiteId> {
    let Some(c) = client else {
        return list.to_vec();
    };
    let mut keyed: Vec<(usize, f64, SiteId)> = list
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let d = sites[s.index()]
                .location
                .map_or(f64::INFINITY, |l| distance_km(c, l));
            (i, d, s)
        })
        .collect();
    keyed.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    keyed.into_iter().map(|k| k.2).collect()
}
