//! What readers of the policy see: `explain` against `select`, the scope blocks, the
//! initial table from overrides, and targets as (link, address) occurrences.

use std::net::IpAddr;

use super::*;
use crate::health::Table;

#[test]
fn overrides_build_the_initial_view() {
    use crate::config::{Override, OverrideState, OverrideTarget};
    let f = Fixture::new();
    let cfg = config(&f);
    let c = Compiled::new(&cfg).unwrap();
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
    let h = crate::serve::offline_table(&cfg, &c, crate::health::Overrides::from_config(&ovs));
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

/// The status view's answer per plan is the query path's answer for a client of that plan,
/// every rule leads to a plan, and a health change moves the answers.
#[test]
fn current_answers_follow_routes_and_health() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let sid = c.service_id("www.example.test").unwrap();
    let up = Table::all_up(c.targets().len());
    let (plans, total) = c.current_answers(sid, &up, 100);
    assert_eq!(plans.len(), total);
    assert!(
        plans
            .iter()
            .any(|p| p.routes.contains(&"default".to_string()))
    );
    let mut out = Vec::new();
    for p in &plans {
        c.select(sid, p.client, false, &up, &mut out);
        assert_eq!(p.a, out, "{p:?}");
        assert_eq!(p.mode, "failover");
    }
    let to_us = plans
        .iter()
        .find(|p| p.sites == ["us"])
        .expect("a plan for the rules that send clients to us");
    assert_eq!(to_us.a, ips(&["192.0.2.30"]));
    // hq down: the default plan (hq, dr) answers from dr with the degraded TTL.
    let down = health(&c, &["site:hq=down"]);
    let (plans, _) = c.current_answers(sid, &down, 100);
    let default = plans
        .iter()
        .find(|p| p.routes.contains(&"default".to_string()) && p.isp.is_none())
        .unwrap();
    assert_eq!(default.sites, ["hq", "dr"]);
    assert_eq!(default.a, ips(&["192.0.2.20"]));
    assert_eq!(default.aaaa, ips(&["2001:db8::20"]));
    assert_eq!(default.ttl, 10);
    assert!(default.why.starts_with("failover"), "{}", default.why);
    assert_eq!(c.current_answers(sid, &up, 1).0.len(), 1);
}
