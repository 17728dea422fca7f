//! The decision table: answers, fallback flags and scopes for fixture clients under
//! overrides, per mode.

use super::*;
use crate::health::Table;

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
    // Nothing usable: fallback = all ignores probes but never hands out what an operator
    // took out; with every site forced down that is nothing (probe-down: see `steering`).
    k(
        "www",
        "203.0.113.9",
        false,
        &["site:hq=down", "site:dr=down"],
        &[],
        true,
        24,
    ),
    k(
        "www",
        "203.0.113.9",
        false,
        &["site:hq=down", "link:dr/default=down", "addr:192.0.2.20=up"],
        &["192.0.2.20"],
        false,
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
        let ttl = if d.ttl_reason.is_degraded() { 10 } else { 30 };
        assert_eq!(d.ttl, ttl, "{what}");
        // Without health changes every answer here is the healthy first choice.
        if k.health.is_empty() {
            assert_eq!(d.ttl_reason, TtlReason::FirstChoice, "{what}");
        }
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
