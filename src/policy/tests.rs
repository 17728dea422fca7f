//! Policy tests over the geo fixture's real MMDB files: the shared configuration and
//! health helpers here; the decision table (`decisions`), explain/scope/target views
//! (`views`) and the steering rules of docs/policy.md (`steering`) in submodules.

mod decisions;
mod steering;
mod views;

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::*;
use crate::config::{Config, Fallback, Location, Match, Mode, Route, Service, Site};
use crate::geo::fixture::Fixture;
use crate::health::{Status, Table};

pub(super) fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

pub(super) fn site(lat: f64, lon: f64, links: &[(&str, &[&str])]) -> Site {
    Site {
        location: Some(Location { lat, lon }),
        links: links
            .iter()
            .map(|(n, a)| ((*n).to_owned(), ips(a)))
            .collect::<BTreeMap<_, _>>(),
        link_order: links.iter().map(|(n, _)| (*n).to_owned()).collect(),
        capacity: 1,
    }
}

pub(super) fn service(name: &str, sites: &[&str], mode: Mode, fallback: Fallback) -> Service {
    Service {
        name: name.to_owned(),
        fqdn: format!("{name}."),
        name_pos: Default::default(),
        ttl: 30,
        ttl_degraded: 10,
        sites: sites.iter().map(|s| (*s).to_owned()).collect(),
        mode,
        weights: BTreeMap::new(),
        spill: Default::default(),
        link_fallback: Default::default(),
        fallback,
        check: None,
        routes: vec![],
    }
}

pub(super) fn route(m: Match, sites: &[&str]) -> Route {
    Route {
        matcher: m,
        sites: sites.iter().map(|s| (*s).to_owned()).collect(),
        mode: None,
    }
}

pub(super) fn config(f: &Fixture) -> Config {
    let mut c = f.config();
    c.sites.insert(
        "hq".into(),
        site(
            39.9,
            116.4,
            &[
                ("telecom", &["203.0.113.10"]),
                ("unicom", &["198.51.100.10"]),
                ("default", &["203.0.113.11", "2001:db8::10"]),
            ],
        ),
    );
    c.sites.insert(
        "dr".into(),
        site(50.1, 8.7, &[("default", &["192.0.2.20", "2001:db8::20"])]),
    );
    c.sites.insert(
        "us".into(),
        site(40.7, -74.0, &[("default", &["192.0.2.30"])]),
    );
    let mut www = service(
        "www.example.test",
        &["hq", "dr"],
        Mode::Failover,
        Fallback::All,
    );
    www.routes = vec![
        route(
            Match {
                countries: vec!["CN".into()],
                ..Match::default()
            },
            &["hq", "dr"],
        ),
        route(
            Match {
                continents: vec!["NA".into(), "EU".into()],
                ..Match::default()
            },
            &["dr", "hq"],
        ),
        route(
            Match {
                cidrs: vec!["127.4.0.0/24".parse().unwrap()],
                ..Match::default()
            },
            &["us"],
        ),
        route(
            Match {
                subdivisions: vec!["JP-13".into()],
                isps: vec!["telecom".into()],
                ..Match::default()
            },
            &["us"],
        ),
    ];
    c.services.insert("www".into(), www);
    c.services.insert(
        "near".into(),
        service(
            "near.example.test",
            &["hq", "dr", "us"],
            Mode::Nearest,
            Fallback::None,
        ),
    );
    let mut w = service(
        "w.example.test",
        &["hq", "dr"],
        Mode::Weighted,
        Fallback::Addrs(ips(&["192.0.2.99"])),
    );
    w.weights = [("hq".to_owned(), 3), ("dr".to_owned(), 1)]
        .into_iter()
        .collect();
    c.services.insert("w".into(), w);
    // A rule that leads where the default leads: the rule must not split the clients.
    let mut same = service(
        "same.example.test",
        &["dr", "us"],
        Mode::Failover,
        Fallback::None,
    );
    same.routes = vec![route(
        Match {
            countries: vec!["DE".into()],
            ..Match::default()
        },
        &["dr", "us"],
    )];
    c.services.insert("same".into(), same);
    c.services.insert(
        "every".into(),
        service(
            "every.example.test",
            &["hq", "dr", "us"],
            Mode::All,
            Fallback::None,
        ),
    );
    c
}

/// Health changes: `site:hq`, `link:hq/telecom`, `addr:203.0.113.10`, each `=down|drain`,
/// resolved into every target they cover as the authority does (most specific wins), or
/// `=full`: a director reports the VIPs there at capacity.
pub(super) fn health(c: &Compiled, changes: &[&str]) -> Table {
    health_from(c, changes, |_| None)
}

/// As [`health`], with probe results: `probe(target)` None = not checked.
pub(super) fn health_from(
    c: &Compiled,
    changes: &[&str],
    probe: impl Fn(&Target) -> Option<Status>,
) -> Table {
    use crate::config::{OverrideState, StartState};
    use crate::health::{Evidence, Level, ProbeEvidence, resolve};
    let state = |s: &str| match s {
        "down" => OverrideState::Down,
        "drain" => OverrideState::Drain,
        _ => OverrideState::Up,
    };
    let verdicts = c
        .targets()
        .iter()
        .map(|t| {
            let (mut forced, mut full) = (None, false);
            for ch in changes {
                let (target, s) = ch.split_once('=').unwrap();
                let (kind, name) = target.split_once(':').unwrap();
                let level = match kind {
                    "site" if name == t.site => Level::Site,
                    "link" if name == format!("{}/{}", t.site, t.link) => Level::Link,
                    "addr" if name.parse::<IpAddr>().unwrap() == t.addr => Level::Addr,
                    _ => continue,
                };
                // `=full`: a director reports the VIP at capacity (not an override).
                if s == "full" {
                    full = true;
                    continue;
                }
                if forced.is_none_or(|(l, _)| level > l) {
                    forced = Some((level, state(s)));
                }
            }
            let mut p = ProbeEvidence::default();
            if let Some(s) = probe(t) {
                p.add(s, StartState::Up);
            }
            resolve(&Evidence {
                forced,
                director: full.then_some(true),
                full,
                probe: p,
            })
        })
        .collect();
    Table::new(verdicts)
}
