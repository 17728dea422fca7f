//! The steering rules of docs/policy.md section 4, each measured: rendezvous weighting,
//! capacity spill, the degraded TTL, the link chain and fail-open.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::config::{LinkFallback, Spill};
use crate::health::Table;

/// 10 000 client /24s of the fixture's unknown space (one plan, scope 2 in the table).
fn prefixes() -> impl Iterator<Item = IpAddr> {
    (0..10_000u32).map(|i| Ipv4Addr::from(0x0A00_0000 | (i << 8) | 7).into())
}

/// The fixture plus `svc` with sites hq, dr, us in that order.
fn with_service(f: &Fixture, svc: Service) -> Compiled {
    let mut cfg = config(f);
    cfg.sites.get_mut("dr").unwrap().capacity = 3;
    cfg.services.insert("t".into(), svc);
    Compiled::new(&cfg).unwrap()
}

/// Which site answers each prefix (by the answer's first address), and the reasons.
fn assign(c: &Compiled, h: &Table) -> Vec<(IpAddr, TtlReason, u8)> {
    let sid = c.service_id("t.example.test").unwrap();
    let mut out = Vec::new();
    prefixes()
        .map(|p| {
            let d = c.select(sid, p, false, h, &mut out);
            (out.first().copied().unwrap_or(p), d.ttl_reason, d.scope)
        })
        .collect()
}

fn shares(a: &[(IpAddr, TtlReason, u8)]) -> BTreeMap<IpAddr, f64> {
    let mut m = BTreeMap::new();
    for (ip, _, _) in a {
        *m.entry(*ip).or_insert(0.0) += 1.0 / a.len() as f64;
    }
    m
}

const HQ: &str = "203.0.113.11";
const DR: &str = "192.0.2.20";
const US: &str = "192.0.2.30";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn weighted_rendezvous_moves_only_the_clients_of_the_site_that_left() {
    let f = Fixture::new();
    let mut svc = service(
        "t.example.test",
        &["hq", "dr", "us"],
        Mode::Weighted,
        Fallback::None,
    );
    svc.weights = [("hq", 5), ("dr", 3), ("us", 2)]
        .into_iter()
        .map(|(s, w)| (s.to_owned(), w))
        .collect();
    let c = with_service(&f, svc);
    let all_up = assign(&c, &Table::all_up(c.targets().len()));
    let s = shares(&all_up);
    for (site, want) in [(HQ, 0.5), (DR, 0.3), (US, 0.2)] {
        let got = s[&ip(site)];
        assert!(
            (got - want).abs() < 0.03,
            "{site}: share {got}, weight {want}"
        );
    }
    assert!(
        all_up
            .iter()
            .all(|a| a.1 == TtlReason::FirstChoice && a.2 == 24)
    );
    for (name, addr, others) in [
        ("hq", HQ, [(DR, 0.6), (US, 0.4)]),
        ("dr", DR, [(HQ, 5.0 / 7.0), (US, 2.0 / 7.0)]),
    ] {
        let down = assign(&c, &health(&c, &[&format!("site:{name}=down")]));
        let mut moved_to: BTreeMap<IpAddr, f64> = BTreeMap::new();
        let mut moved = 0usize;
        for (before, after) in all_up.iter().zip(&down) {
            if before.0 == ip(addr) {
                assert_ne!(after.0, ip(addr));
                assert_eq!(after.1, TtlReason::WeightedMoved);
                *moved_to.entry(after.0).or_default() += 1.0;
                moved += 1;
            } else {
                // Not one client of a healthy site moves.
                assert_eq!(before, after, "a client of a healthy site moved");
            }
        }
        for (site, want) in others {
            let got = moved_to[&ip(site)] / moved as f64;
            assert!(
                (got - want).abs() < 0.03,
                "{name} down: {site} took {got}, want {want}"
            );
        }
        // Back up: exactly the same assignment as before.
        assert_eq!(assign(&c, &Table::all_up(c.targets().len())), all_up);
    }
}

#[test]
fn capacity_spill_spreads_a_failed_first_site_by_capacity() {
    let f = Fixture::new();
    let mut svc = service(
        "t.example.test",
        &["hq", "dr", "us"],
        Mode::Failover,
        Fallback::None,
    );
    svc.spill = Spill::Capacity;
    let c = with_service(&f, svc.clone());
    // First site usable: no spread, the table's scope.
    let up = assign(&c, &Table::all_up(c.targets().len()));
    assert!(
        up.iter()
            .all(|a| a.0 == ip(HQ) && a.1 == TtlReason::FirstChoice && a.2 == 2)
    );
    let spilled = assign(&c, &health(&c, &["site:hq=down"]));
    let s = shares(&spilled);
    // dr has capacity 3, us the default 1.
    assert!((s[&ip(DR)] - 0.75).abs() < 0.03, "{s:?}");
    assert!(spilled.iter().all(|a| a.1 == TtlReason::Spill && a.2 == 24));
    // dr leaves too: only dr's spilled clients move; they stay put when dr returns.
    let more = assign(&c, &health(&c, &["site:hq=down", "site:dr=down"]));
    for (a, b) in spilled.iter().zip(&more) {
        assert_eq!(b.0, ip(US));
        if a.0 == ip(US) {
            assert_eq!(a, b);
        }
    }
    // spill = "next": everyone on the next site, scope not narrowed.
    svc.spill = Spill::Next;
    let c = with_service(&f, svc);
    let next = assign(&c, &health(&c, &["site:hq=down"]));
    assert!(
        next.iter()
            .all(|a| a.0 == ip(DR) && a.1 == TtlReason::Failover && a.2 == 2)
    );
}

/// Every answer that is not the healthy first choice gets `ttl_degraded`, and says why.
#[test]
fn ttl_follows_health() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let cases: &[(&str, &str, &[&str], TtlReason)] = &[
        ("www", "203.0.113.9", &[], TtlReason::FirstChoice),
        ("www", "203.0.113.9", &["site:hq=down"], TtlReason::Failover),
        (
            "www",
            "203.0.113.9",
            &["link:hq/telecom=down"],
            TtlReason::LinkFallback,
        ),
        // Only an address of the first link down: still the first choice.
        (
            "every",
            "10.0.0.1",
            &["addr:203.0.113.11=down"],
            TtlReason::FirstChoice,
        ),
        (
            "every",
            "10.0.0.1",
            &["site:us=down"],
            TtlReason::SiteLeftOut,
        ),
        (
            "www",
            "203.0.113.9",
            &["site:hq=down", "site:dr=down"],
            TtlReason::FailOpen,
        ),
        (
            "near",
            "10.0.0.1",
            &["site:hq=down", "site:dr=down", "site:us=down"],
            TtlReason::Fallback,
        ),
        (
            "w",
            "10.0.0.1",
            &["site:hq=down", "site:dr=down"],
            TtlReason::Fallback,
        ),
    ];
    let mut out = Vec::new();
    for &(svc, client, changes, reason) in cases {
        let sid = c.service_id(&format!("{svc}.example.test")).unwrap();
        let h = health(&c, changes);
        let d = c.select(sid, ip(client), false, &h, &mut out);
        let what = format!("{svc} {client} {changes:?}");
        assert_eq!(d.ttl_reason, reason, "{what}");
        assert_eq!(d.ttl, if reason.is_degraded() { 10 } else { 30 }, "{what}");
        let e = c.explain(sid, ip(client), false, &h).unwrap();
        assert_eq!((e.ttl, e.ttl_reason), (d.ttl, d.ttl_reason), "{what}");
    }
    // An address down inside the chosen link keeps the full TTL.
    let sid = c.service_id("www.example.test").unwrap();
    let h = health(&c, &["addr:2001:db8::10=down"]);
    let d = c.select(sid, ip("10.0.0.1"), false, &h, &mut out);
    assert_eq!((d.ttl, d.ttl_reason), (30, TtlReason::FirstChoice));
}

#[test]
fn weighted_top_site_down_is_degraded() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let sid = c.service_id("w.example.test").unwrap();
    let mut out = Vec::new();
    let all_up = Table::all_up(c.targets().len());
    let hq_down = health(&c, &["site:hq=down"]);
    let (mut moved, mut stayed) = (0, 0);
    for p in prefixes().take(500) {
        let before = c.select(sid, p, false, &all_up, &mut out).ttl_reason;
        let was_hq = out == ips(&[HQ]);
        let after = c.select(sid, p, false, &hq_down, &mut out);
        assert_eq!(before, TtlReason::FirstChoice);
        if was_hq {
            assert_eq!(
                (after.ttl_reason, after.ttl),
                (TtlReason::WeightedMoved, 10)
            );
            moved += 1;
        } else {
            assert_eq!((after.ttl_reason, after.ttl), (TtlReason::FirstChoice, 30));
            stayed += 1;
        }
    }
    assert!(moved > 0 && stayed > 0);
}

/// ISP link, then `default`, then (with `any`) the other links in configuration order,
/// then the next site; `explain` shows what was tried.
#[test]
fn link_fallback_chain() {
    let f = Fixture::new();
    let mut cfg = config(&f);
    cfg.sites.get_mut("hq").unwrap().link_order =
        vec!["telecom".into(), "unicom".into(), "default".into()];
    let mut any = cfg.services["www"].clone();
    any.fqdn = "any.example.test.".into();
    any.link_fallback = LinkFallback::Any;
    cfg.services.insert("any".into(), any);
    let c = Compiled::new(&cfg).unwrap();
    let telecom_client = ip("203.0.113.9");
    let h = health(&c, &["link:hq/telecom=down", "link:hq/default=down"]);
    let mut out = Vec::new();
    let www = c.service_id("www.example.test").unwrap();
    let d = c.select(www, telecom_client, false, &h, &mut out);
    assert_eq!(
        (out.clone(), d.ttl_reason),
        (ips(&["192.0.2.20"]), TtlReason::Failover)
    );
    let sid = c.service_id("any.example.test").unwrap();
    let d = c.select(sid, telecom_client, false, &h, &mut out);
    assert_eq!(
        (out.clone(), d.ttl_reason),
        (ips(&["198.51.100.10"]), TtlReason::LinkFallback)
    );
    let e = c.explain(sid, telecom_client, false, &h).unwrap();
    assert_eq!(e.link_fallback, "any");
    let steps: Vec<(&str, LinkRole, &str)> = e.sites[0]
        .chain
        .iter()
        .map(|s| (s.link.as_str(), s.role, s.result))
        .collect();
    assert_eq!(
        steps,
        [
            ("telecom", LinkRole::Isp, "skipped"),
            ("default", LinkRole::Default, "skipped"),
            ("unicom", LinkRole::Other, "used"),
        ]
    );
    assert!(
        e.sites[0].chain[0]
            .why
            .contains("203.0.113.10 down (link override)"),
        "{:?}",
        e.sites[0].chain
    );
    // Every hq link down: the next site, with both chains shown.
    let h = health(&c, &["site:hq=down"]);
    c.select(sid, telecom_client, false, &h, &mut out);
    assert_eq!(out, ips(&["192.0.2.20"]));
    let e = c.explain(sid, telecom_client, false, &h).unwrap();
    assert!(e.sites[0].chain.iter().all(|s| s.result == "skipped"));
    assert_eq!(e.sites[1].chain[0].result, "used");
}

/// Fail-open hands out what probes call down, never what an operator took out.
#[test]
fn fail_open_never_hands_out_forced_out_targets() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let sid = c.service_id("www.example.test").unwrap();
    let mut out = Vec::new();
    let client = ip("10.0.0.1"); // www default [hq, dr], hq's default link
    // Probes say everything is down: fail-open answers every site.
    let probed = health_from(&c, &[], |_| Some(Status::Down));
    let d = c.select(sid, client, false, &probed, &mut out);
    assert_eq!(
        (out.clone(), d.ttl_reason),
        (ips(&["203.0.113.11", "192.0.2.20"]), TtlReason::FailOpen)
    );
    // hq drained by an operator, dr down by probe: only dr.
    let mixed = health_from(&c, &["site:hq=drain"], |_| Some(Status::Down));
    c.select(sid, client, false, &mixed, &mut out);
    assert_eq!(out, ips(&["192.0.2.20"]));
    // One address forced out: the link's other addresses only.
    let one = health_from(&c, &["addr:192.0.2.20=down", "site:hq=down"], |_| {
        Some(Status::Down)
    });
    let d = c.select(sid, client, true, &one, &mut out);
    assert_eq!((out.clone(), d.fallback), (ips(&["2001:db8::20"]), true));
    // Everything taken out by operators: NODATA.
    let all = health(&c, &["site:hq=down", "site:dr=down"]);
    let d = c.select(sid, client, false, &all, &mut out);
    assert_eq!((d.outcome, d.fallback), (Outcome::NoData, true));
}

/// Capacity-aware spill: a site whose VIP is full takes no new client while another site
/// can; when none can, the full site answers (over capacity) before the fallback does; an
/// operator's `up` override beats the load report.
#[test]
fn a_full_vip_spills_to_the_next_site_and_answers_last() {
    let f = Fixture::new();
    let c = Compiled::new(&config(&f)).unwrap();
    let www = c.service_id("www.example.test").unwrap();
    let every = c.service_id("every.example.test").unwrap();
    let mut out = Vec::new();
    let client = ip("203.0.113.9");
    let first = c.select(www, client, false, &health(&c, &[]), &mut out);
    assert_eq!(first.ttl_reason, TtlReason::FirstChoice);
    let hq = out.clone();

    let h = health(&c, &["site:hq=full"]);
    let d = c.select(www, client, false, &h, &mut out);
    assert_eq!(d.ttl_reason, TtlReason::Failover);
    assert!(
        out.iter().all(|a| !hq.contains(a)),
        "{out:?} still has {hq:?}"
    );
    let e = c.explain(www, client, false, &h).unwrap();
    assert!(
        e.sites[0]
            .links
            .iter()
            .flat_map(|l| &l.addrs)
            .any(|a| a.status == "full")
    );

    // `all`: the full site is left out while the others answer.
    let d = c.select(every, ip("10.0.0.1"), false, &h, &mut out);
    assert_eq!(d.ttl_reason, TtlReason::SiteLeftOut);

    // Every other site down: the full one answers, degraded, instead of fail-open.
    let h = health(&c, &["site:hq=full", "site:dr=down"]);
    let d = c.select(www, client, false, &h, &mut out);
    assert_eq!(
        (d.ttl_reason, d.ttl, d.fallback),
        (TtlReason::OverCapacity, 10, false)
    );
    assert_eq!(out, hq);
    let e = c.explain(www, client, false, &h).unwrap();
    assert_eq!(
        (e.ttl_reason, e.answer.clone()),
        (TtlReason::OverCapacity, hq.clone())
    );

    // An operator's `up` wins over the load report.
    let h = health(&c, &["site:hq=full", "site:hq=up"]);
    let d = c.select(www, client, false, &h, &mut out);
    assert_eq!((d.ttl_reason, out.clone()), (TtlReason::FirstChoice, hq));
}
