//! Policy tests: table-driven decisions over the geo fixture's real MMDB files.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::*;
use crate::config::{Config, Fallback, Location, Match, Mode, Route, Service, Site};
use crate::geo::fixture::Fixture;
use crate::health::{Status, Table};

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn site(lat: f64, lon: f64, links: &[(&str, &[&str])]) -> Site {
    Site {
        location: Some(Location { lat, lon }),
        links: links
            .iter()
            .map(|(n, a)| ((*n).to_owned(), ips(a)))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn service(name: &str, sites: &[&str], mode: Mode, fallback: Fallback) -> Service {
    Service {
        name: name.to_owned(),
        fqdn: format!("{name}."),
        ttl: 30,
        sites: sites.iter().map(|s| (*s).to_owned()).collect(),
        mode,
        weights: BTreeMap::new(),
        fallback,
        check: None,
        routes: vec![],
    }
}

fn route(m: Match, sites: &[&str]) -> Route {
    Route {
        matcher: m,
        sites: sites.iter().map(|s| (*s).to_owned()).collect(),
        mode: None,
    }
}

fn config(f: &Fixture) -> Config {
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
/// resolved into every target they cover as the authority does (most specific wins).
fn health(c: &Compiled, changes: &[&str]) -> Table {
    health_from(c, changes, |_| None)
}

/// As [`health`], with probe results: `probe(target)` None = not checked.
fn health_from(c: &Compiled, changes: &[&str], probe: impl Fn(&Target) -> Option<Status>) -> Table {
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
            let mut forced = None;
            for ch in changes {
                let (target, s) = ch.split_once('=').unwrap();
                let (kind, name) = target.split_once(':').unwrap();
                let level = match kind {
                    "site" if name == t.site => Level::Site,
                    "link" if name == format!("{}/{}", t.site, t.link) => Level::Link,
                    "addr" if name.parse::<IpAddr>().unwrap() == t.addr => Level::Addr,
                    _ => continue,
                };
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
                director: None,
                probe: p,
            })
        })
        .collect();
    Table::new(verdicts)
}

struct Case {
    service: &'static str,
    client: &'static str,
    aaaa: bool,
    health: &'static [&'static str],
    answer: &'static [&'static str],
    fallback: bool,
    scope: u8,
}

const fn k(
    service: &'static str,
    client: &'static str,
    aaaa: bool,
    health: &'static [&'static str],
    answer: &'static [&'static str],
    fallback: bool,
    scope: u8,
) -> Case {
    Case {
        service,
        client,
        aaaa,
        health,
        answer,
        fallback,
        scope,
    }
}

const CASES: &[Case] = &[
    // Route 0 (country CN) and the ISP link.
    k(
        "www",
        "203.0.113.9",
        false,
        &[],
        &["203.0.113.10"],
        false,
        24,
    ),
    k(
        "www",
        "::ffff:203.0.113.9",
        false,
        &[],
        &["203.0.113.10"],
        false,
        120,
    ),
    // The chosen site has no IPv6 on the telecom link: NODATA, not the next site.
    k("www", "203.0.113.9", true, &[], &[], false, 24),
    k(
        "www",
        "2001:db8:cafe::1",
        false,
        &[],
        &["203.0.113.10"],
        false,
        48,
    ),
    // Route 1 (continent EU): dr first; dr has no telecom link, so the ISP does not matter
    // there but does split the /24 because hq (second) has one.
    k(
        "www",
        "198.51.100.10",
        false,
        &[],
        &["192.0.2.20"],
        false,
        25,
    ),
    k(
        "www",
        "198.51.100.200",
        false,
        &[],
        &["192.0.2.20"],
        false,
        25,
    ),
    k(
        "www",
        "198.51.100.200",
        true,
        &[],
        &["2001:db8::20"],
        false,
        25,
    ),
    // Route 2 (cidr), and its boundary narrowing the unknown space.
    k("www", "127.4.0.1", false, &[], &["192.0.2.30"], false, 24),
    k("www", "127.4.1.1", false, &[], &["203.0.113.11"], false, 24),
    // Route 3: subdivision JP-13 AND isp telecom (127.1.3.0/24 by CIDR file).
    k("www", "127.1.3.9", false, &[], &["192.0.2.30"], false, 24),
    k(
        "www",
        "127.1.4.9",
        false,
        &[],
        &["198.51.100.10"],
        false,
        22,
    ),
    // No route: default sites.
    k("www", "10.0.0.1", false, &[], &["203.0.113.11"], false, 2),
    k("www", "10.0.0.1", true, &[], &["2001:db8::10"], false, 2),
    // Health: site, link, address down; drain counts as not up.
    k(
        "www",
        "203.0.113.9",
        false,
        &["site:hq=down"],
        &["192.0.2.20"],
        false,
        24,
    ),
    k(
        "www",
        "203.0.113.9",
        false,
        &["site:hq=drain"],
        &["192.0.2.20"],
        false,
        24,
    ),
    k(
        "www",
        "203.0.113.9",
        false,
        &["link:hq/telecom=down"],
        &["203.0.113.11"],
        false,
        24,
    ),
    k(
        "www",
        "203.0.113.9",
        false,
        &["addr:203.0.113.10=down"],
        &["203.0.113.11"],
        false,
        24,
    ),
    k(
        "www",
        "203.0.113.9",
        false,
        &[
            "addr:203.0.113.10=down",
            "addr:203.0.113.11=down",
            "addr:2001:db8::10=down",
        ],
        &["192.0.2.20"],
        false,
        24,
    ),
    // Nothing healthy: fallback = all (the link rule, ignoring health).
    k(
        "www",
        "203.0.113.9",
        false,
        &["site:hq=down", "site:dr=down"],
        &["203.0.113.10", "192.0.2.20"],
        true,
        24,
    ),
    // nearest: by great-circle distance from the client's coordinates.
    k("near", "192.0.2.5", false, &[], &["192.0.2.30"], false, 24),
    k("near", "192.0.2.5", true, &[], &[], false, 24),
    k(
        "near",
        "198.51.100.10",
        false,
        &[],
        &["192.0.2.20"],
        false,
        25,
    ),
    k(
        "near",
        "198.51.100.10",
        false,
        &["site:dr=down"],
        &["192.0.2.30"],
        false,
        25,
    ),
    k(
        "near",
        "203.0.113.9",
        false,
        &[],
        &["203.0.113.10"],
        false,
        24,
    ),
    k("near", "10.0.0.1", false, &[], &["203.0.113.11"], false, 2),
    k(
        "near",
        "10.0.0.1",
        false,
        &["site:hq=down", "site:dr=down", "site:us=down"],
        &[],
        true,
        2,
    ),
    // weighted: fallback addresses; scope narrowed to the hash prefix.
    k(
        "w",
        "10.0.0.1",
        false,
        &["site:hq=down"],
        &["192.0.2.20"],
        false,
        24,
    ),
    k(
        "w",
        "2001:db8::1",
        true,
        &["site:hq=down"],
        &["2001:db8::20"],
        false,
        56,
    ),
    k(
        "w",
        "10.0.0.1",
        false,
        &["site:hq=down", "site:dr=down"],
        &["192.0.2.99"],
        true,
        2,
    ),
    k(
        "w",
        "10.0.0.1",
        true,
        &["site:hq=down", "site:dr=down"],
        &[],
        true,
        2,
    ),
    // all: every healthy site.
    k(
        "every",
        "10.0.0.1",
        false,
        &[],
        &["203.0.113.11", "192.0.2.20", "192.0.2.30"],
        false,
        2,
    ),
    k(
        "every",
        "10.0.0.1",
        true,
        &[],
        &["2001:db8::10", "2001:db8::20"],
        false,
        2,
    ),
    k(
        "every",
        "10.0.0.1",
        false,
        &["site:us=down"],
        &["203.0.113.11", "192.0.2.20"],
        false,
        2,
    ),
    k(
        "every",
        "203.0.113.9",
        false,
        &[],
        &["203.0.113.10", "192.0.2.20", "192.0.2.30"],
        false,
        24,
    ),
];

#[test]
fn decisions_table() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let mut out = Vec::new();
    for (i, k) in CASES.iter().enumerate() {
        let sid = c
            .service_id(&format!("{}.example.test.", k.service))
            .unwrap();
        let h = health(&c, k.health);
        let d = c.select(sid, k.client.parse().unwrap(), k.aaaa, &h, &mut out);
        let what = format!(
            "case {i}: {} {} aaaa={} {:?}",
            k.service, k.client, k.aaaa, k.health
        );
        assert_eq!(out, ips(k.answer), "{what}");
        let want = if k.answer.is_empty() {
            Outcome::NoData
        } else {
            Outcome::Answer
        };
        assert_eq!(d.outcome, want, "{what}");
        assert_eq!(d.fallback, k.fallback, "{what}");
        assert_eq!(d.scope, k.scope, "{what}");
        assert_eq!(d.ttl, 30, "{what}");
    }
}

#[test]
fn service_names() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    assert!(c.service_id("www.example.test.").is_some());
    assert_eq!(
        c.service_id("www.example.test"),
        c.service_id("www.example.test.")
    );
    assert_eq!(
        c.service_id_bytes(b"near.example.test."),
        c.service_id("near.example.test")
    );
    assert_ne!(
        c.service_id("www.example.test"),
        c.service_id("near.example.test")
    );
    assert!(c.service_id("example.test.").is_none());
    let sid = c.service_id("w.example.test").unwrap();
    assert_eq!(c.service_name(sid), Some("w"));
}

#[test]
fn weighted_is_stable_per_prefix_and_follows_weights() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let sid = c.service_id("w.example.test").unwrap();
    let h = Table::all_up(c.targets().len());
    let mut out = Vec::new();
    let mut hq = 0;
    let n = 4000u32;
    for i in 0..n {
        let base = 0x0A00_0000 | (i << 8);
        let d = c.select(
            sid,
            std::net::Ipv4Addr::from(base | 1).into(),
            false,
            &h,
            &mut out,
        );
        assert_eq!(d.scope, 24);
        let first = out.clone();
        c.select(
            sid,
            std::net::Ipv4Addr::from(base | 254).into(),
            false,
            &h,
            &mut out,
        );
        assert_eq!(out, first, "same /24, different answer");
        hq += usize::from(first == ips(&["203.0.113.11"]));
    }
    let share = hq as f64 / f64::from(n);
    assert!(
        (0.70..0.80).contains(&share),
        "hq share {share} for weight 3:1"
    );
}

#[test]
fn overrides_build_the_initial_view() {
    use crate::config::{Override, OverrideState, OverrideTarget};
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let ovs = vec![
        Override {
            target: OverrideTarget::Site("hq".into()),
            state: OverrideState::Drain,
        },
        Override {
            target: OverrideTarget::Link {
                site: "dr".into(),
                link: "nope".into(),
            },
            state: OverrideState::Down,
        },
    ];
    let h = crate::serve::policy_table(
        &c,
        None,
        &crate::health::Overrides::from_config(&ovs),
        &crate::lvs::VipState::default(),
    );
    let hq = c.site_id("hq").unwrap();
    for t in c.targets() {
        let v = h.get(t.id.index());
        assert_eq!(v.status == Status::Drain, t.site_id == hq, "{t:?}");
        assert_eq!(v.forced_out(), t.site_id == hq, "{t:?}");
    }
    let mut out = Vec::new();
    let sid = c.service_id("www.example.test").unwrap();
    c.select(sid, "10.0.0.1".parse().unwrap(), false, &h, &mut out);
    assert_eq!(out, ips(&["192.0.2.20"]));
    assert_eq!(c.targets().len(), 7);
}

/// `explain` shows the served answer, and the compiled plan table agrees with evaluating
/// the route rules directly, over many clients, families and health states.
#[test]
fn explain_and_select_never_diverge() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let views = [
        Table::all_up(c.targets().len()),
        health(&c, &["site:hq=down"]),
        health(&c, &["link:hq/telecom=down", "site:us=down"]),
        health(&c, &["site:hq=down", "site:dr=down", "site:us=down"]),
    ];
    let mut clients: Vec<IpAddr> = Vec::new();
    for hi in [10u32, 127, 192, 198, 203] {
        for mid in 0..=255u32 {
            clients
                .push(std::net::Ipv4Addr::from((hi << 24) | (mid << 16) | (mid << 8) | 3).into());
        }
    }
    for s in [
        "192.0.2.1",
        "198.51.100.130",
        "203.0.113.1",
        "127.1.3.1",
        "127.2.0.9",
    ] {
        for d in 0..=255u32 {
            let base = u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()) & 0xFFFF_FF00;
            clients.push(std::net::Ipv4Addr::from(base | d).into());
        }
    }
    clients.extend(ips(&[
        "2001:db8::1",
        "2001:db8:cafe::1",
        "2001:db8:cafe:9::1",
        "::1",
        "::ffff:127.4.0.1",
    ]));
    let mut out = Vec::new();
    for svc in ["www", "near", "w", "every"] {
        let sid = c.service_id(&format!("{svc}.example.test")).unwrap();
        for h in &views {
            for &client in &clients {
                for aaaa in [false, true] {
                    let d = c.select(sid, client, aaaa, h, &mut out);
                    let e = c.explain(sid, client, aaaa, h).unwrap();
                    let what = format!("{svc} {client} aaaa={aaaa}");
                    assert_eq!(e.answer, out, "{what}");
                    assert_eq!(
                        (e.outcome, e.scope, e.fallback, e.ttl),
                        (d.outcome, d.scope, d.fallback, d.ttl),
                        "{what}"
                    );
                    assert_eq!(e.sites.iter().any(|s| s.selected), !d.fallback, "{what}");
                }
            }
        }
    }
    let sid = c.service_id("www.example.test").unwrap();
    let e = c
        .explain(sid, "127.1.3.9".parse().unwrap(), false, &views[0])
        .unwrap();
    let json = serde_json::to_string(&e).unwrap();
    assert!(json.contains("\"route\":3"), "{json}");
    assert!(json.contains("subdivision=[JP-13] isp=[telecom]"), "{json}");
    assert!(json.contains("\"isp\":\"telecom\""), "{json}");
}

/// The scope is exact for the service: the first and last address of the reported block
/// get the client's answer, and so (for non-weighted services) does every probe inside.
#[test]
fn scope_block_gives_the_same_answer() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let h = Table::all_up(c.targets().len());
    let mut out = Vec::new();
    let mut other = Vec::new();
    for svc in ["www", "near", "every", "same"] {
        let sid = c.service_id(&format!("{svc}.example.test")).unwrap();
        for s in [
            "192.0.2.7",
            "198.51.100.7",
            "198.51.100.200",
            "203.0.113.7",
            "127.1.3.1",
            "127.1.9.1",
            "127.2.9.9",
            "127.4.0.9",
            "127.4.9.9",
            "10.1.2.3",
        ] {
            let ip: std::net::Ipv4Addr = s.parse().unwrap();
            let d = c.select(sid, ip.into(), false, &h, &mut out);
            let host = 32 - u32::from(d.scope);
            let mask = u32::MAX.checked_shl(host).unwrap_or(0);
            let start = u32::from(ip) & mask;
            let end = start | !mask;
            for x in [start, end, start + (end - start) / 3] {
                c.select(
                    sid,
                    std::net::Ipv4Addr::from(x).into(),
                    false,
                    &h,
                    &mut other,
                );
                assert_eq!(other, out, "{svc} {s}: {x:#x} inside /{}", d.scope);
            }
        }
    }
}

/// Clients matched by different rules that lead to the same sites share one block: the scope
/// is as wide as the answer allows (here the whole address space), not cut at the rule's
/// boundary. `explain` still names the rule that matched.
#[test]
fn rules_with_the_same_outcome_do_not_narrow_the_scope() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let h = Table::all_up(c.targets().len());
    let sid = c.service_id("same.example.test").unwrap();
    let mut out = Vec::new();
    for s in ["198.51.100.7", "192.0.2.7", "10.1.2.3", "2001:db8:cafe::1"] {
        let ip: IpAddr = s.parse().unwrap();
        let d = c.select(sid, ip, false, &h, &mut out);
        assert_eq!(out, ips(&["192.0.2.20"]), "{s}");
        assert_eq!(d.scope, 0, "{s}");
    }
    let e = c
        .explain(sid, "198.51.100.7".parse().unwrap(), false, &h)
        .unwrap();
    assert_eq!(e.route, Some(0));
    let e = c
        .explain(sid, "192.0.2.7".parse().unwrap(), false, &h)
        .unwrap();
    assert_eq!(e.route, None);
}

/// One address in two links is two targets: a link override takes out only the occurrence
/// in that link, and the table is read by target id.
#[test]
fn an_address_in_two_links_is_two_targets() {
    let f = Fixture::new();
    let mut cfg = config(&f);
    cfg.sites.insert(
        "hq".into(),
        site(
            39.9,
            116.4,
            &[
                ("telecom", &["203.0.113.10"]),
                ("default", &["203.0.113.10"]),
            ],
        ),
    );
    let c = Compiled::new(&cfg).unwrap();
    let occurrences: Vec<&Target> = c.targets_of("203.0.113.10".parse().unwrap()).collect();
    assert_eq!(occurrences.len(), 2);
    assert_ne!(occurrences[0].id, occurrences[1].id);
    for (i, t) in c.targets().iter().enumerate() {
        assert_eq!(t.id.index(), i, "targets are listed in id order");
    }
    let sid = c.service_id("www.example.test").unwrap();
    let mut out = Vec::new();
    // A telecom client (route CN) with its ISP link taken out keeps the address through
    // the default link, where the same address is another target.
    let h = health(&c, &["link:hq/telecom=down"]);
    let d = c.select(sid, "203.0.113.9".parse().unwrap(), false, &h, &mut out);
    assert_eq!(out, ips(&["203.0.113.10"]));
    assert!(!d.fallback);
    // The probe sees the address down: both occurrences are down, so the next site.
    let h = health_from(&c, &[], |t| {
        (t.addr == "203.0.113.10".parse::<IpAddr>().unwrap()).then_some(Status::Down)
    });
    c.select(sid, "203.0.113.9".parse().unwrap(), false, &h, &mut out);
    assert_eq!(out, ips(&["192.0.2.20"]));
    // An index outside the table reads as down: only target 0 (dr's 192.0.2.20) is up.
    let short = Table::all_up(1);
    c.select(sid, "10.0.0.1".parse().unwrap(), false, &short, &mut out);
    assert_eq!(out, ips(&["192.0.2.20"]));
}
