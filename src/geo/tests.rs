//! Classifier tests over real MMDB files built by the fixture.

use std::net::IpAddr;

use super::fixture::Fixture;
use super::*;
use crate::config::{Match, Mode, Route, Service};

fn classifier_with_route(f: &Fixture, cidrs: &[&str]) -> Classifier {
    let mut cfg = f.config();
    cfg.services.insert(
        "www".into(),
        Service {
            name: "www.example.test".into(),
            fqdn: "www.example.test.".into(),
            name_pos: Default::default(),
            ttl: 30,
            ttl_degraded: 10,
            sites: vec![],
            mode: Mode::Failover,
            weights: Default::default(),
            spill: Default::default(),
            link_fallback: Default::default(),
            fallback: crate::config::Fallback::None,
            check: None,
            routes: vec![Route {
                matcher: Match {
                    cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
                    ..Match::default()
                },
                sites: vec![],
                mode: None,
            }],
        },
    );
    Classifier::build(&cfg).unwrap()
}

struct Case {
    addr: &'static str,
    continent: &'static str,
    country: &'static str,
    sub: &'static str,
    asn: Option<u32>,
    isp: &'static str,
    route_net: &'static str,
    prefix: u8,
}

const fn c(
    addr: &'static str,
    geo: [&'static str; 3],
    asn: Option<u32>,
    isp: &'static str,
    route_net: &'static str,
    prefix: u8,
) -> Case {
    Case {
        addr,
        continent: geo[0],
        country: geo[1],
        sub: geo[2],
        asn,
        isp,
        route_net,
        prefix,
    }
}

#[test]
fn classifies_documentation_and_loopback_prefixes() {
    let f = Fixture::new();
    let cl = classifier_with_route(&f, &["127.2.0.0/24", "2001:db8:cafe:1::/64"]);
    let cases = [
        // City /24 cut by the ASN /25.
        c("192.0.2.5", ["NA", "US", "CA"], Some(64500), "", "", 25),
        c("192.0.2.200", ["NA", "US", "CA"], None, "", "", 25),
        // Telecom's CIDR file covers the upper half.
        c("198.51.100.10", ["EU", "DE", "BE"], None, "", "", 25),
        c(
            "198.51.100.200",
            ["EU", "DE", "BE"],
            None,
            "telecom",
            "",
            25,
        ),
        // ISP by ASN.
        c(
            "203.0.113.9",
            ["AS", "CN", "BJ"],
            Some(4134),
            "telecom",
            "",
            24,
        ),
        // CIDR beats ASN: 127.1.3.0/24 is telecom although AS4837 is unicom.
        c(
            "127.1.3.4",
            ["AS", "JP", "13"],
            Some(4837),
            "telecom",
            "",
            24,
        ),
        c(
            "127.1.2.1",
            ["AS", "JP", "13"],
            Some(4837),
            "unicom",
            "",
            24,
        ),
        c(
            "127.1.0.1",
            ["AS", "JP", "13"],
            Some(4837),
            "unicom",
            "",
            23,
        ),
        c(
            "127.1.200.1",
            ["AS", "JP", "13"],
            Some(4837),
            "unicom",
            "",
            17,
        ),
        // Route CIDR boundary splits an otherwise uniform /17.
        c(
            "127.2.0.5",
            ["EU", "FR", "IDF"],
            None,
            "",
            "127.2.0.0/24",
            24,
        ),
        c("127.2.1.5", ["EU", "FR", "IDF"], None, "", "", 24),
        c("127.2.64.1", ["EU", "FR", "IDF"], None, "", "", 18),
        c("127.2.200.1", ["EU", "FR", "PAC"], None, "", "", 17),
        c("127.3.9.9", ["NA", "US", "NY"], None, "", "", 16),
        // A record without data is the same as no record: 127.4/16 merges with 127.6/15.
        c("127.4.0.1", ["", "", ""], None, "", "", 16),
        c("127.5.0.1", ["", "", ""], None, "unicom", "", 16),
        c("127.6.0.1", ["", "", ""], None, "", "", 15),
        c("10.0.0.1", ["", "", ""], None, "", "", 2),
        // IPv4-mapped IPv6 is the IPv4 address, the prefix in IPv6 terms.
        c(
            "::ffff:127.2.0.5",
            ["EU", "FR", "IDF"],
            None,
            "",
            "127.2.0.0/24",
            120,
        ),
        c("2001:db8::1", ["OC", "AU", "NSW"], None, "", "", 33),
        c("2001:db8:8000::1", ["OC", "AU", "NSW"], None, "", "", 34),
        c(
            "2001:db8:cafe::1",
            ["AS", "CN", "SH"],
            Some(4812),
            "telecom",
            "",
            64,
        ),
        c(
            "2001:db8:cafe:1::1",
            ["AS", "CN", "SH"],
            Some(4812),
            "telecom",
            "2001:db8:cafe:1::/64",
            64,
        ),
        c(
            "2001:db8:cafe:8000::1",
            ["AS", "CN", "SH"],
            Some(4812),
            "telecom",
            "",
            49,
        ),
        c("2001:db9::1", ["", "", ""], None, "", "", 32),
    ];
    for k in &cases {
        let got = cl.classify(k.addr.parse().unwrap());
        let a = got.attrs;
        let s = |c: Option<Code>| c.map(|c| c.to_string()).unwrap_or_default();
        assert_eq!(s(a.city.continent), k.continent, "{} continent", k.addr);
        assert_eq!(s(a.city.country), k.country, "{} country", k.addr);
        assert_eq!(s(a.city.subdivision), k.sub, "{} subdivision", k.addr);
        assert_eq!(a.asn, k.asn, "{} asn", k.addr);
        let isp = a.isp.and_then(|i| cl.isp_name(i)).unwrap_or("");
        assert_eq!(isp, k.isp, "{} isp", k.addr);
        let rn = a
            .route_net
            .and_then(|i| cl.route_net(i))
            .map(|n| n.to_string());
        assert_eq!(rn.unwrap_or_default(), k.route_net, "{} route net", k.addr);
        assert_eq!(got.prefix_len, k.prefix, "{} prefix", k.addr);
    }
}

#[test]
fn locations_and_orgs_come_through() {
    let f = Fixture::new();
    let cl = Classifier::build(&f.config()).unwrap();
    let a = cl.classify("192.0.2.1".parse().unwrap()).attrs;
    let loc = a.city.location.unwrap();
    assert!((loc.lat - 37.4).abs() < 1e-9 && (loc.lon + 122.1).abs() < 1e-9);
    assert_eq!(
        a.as_org.and_then(|o| cl.org_name(o)),
        Some("Example One, Inc.")
    );
    assert!(
        cl.classify("127.4.0.1".parse().unwrap())
            .attrs
            .city
            .location
            .is_none()
    );
}

/// The scope is exact: every address of the reported block has the same attributes, and
/// the block one bit wider contains an address that differs.
#[test]
fn prefix_is_widest_uniform_block() {
    let f = Fixture::new();
    let cl = classifier_with_route(&f, &["127.2.0.0/24"]);
    let mut probes: Vec<IpAddr> = Vec::new();
    for b in 0..=255u32 {
        probes.push(std::net::Ipv4Addr::from(0x7F01_0000 | (b << 8) | 7).into());
        probes.push(std::net::Ipv4Addr::from(0x7F02_0000 | (b << 8) | 9).into());
        probes.push(std::net::Ipv4Addr::from(0xC633_6400 | b).into());
    }
    for addr in probes {
        let IpAddr::V4(v4) = addr else { unreachable!() };
        let got = cl.classify(addr);
        let host = 32 - u32::from(got.prefix_len);
        let start = u32::from(v4) >> host << host;
        let end = start | ((1u64 << host) - 1) as u32;
        // Sampling the block's edges and middle; the table test checks every address.
        for x in [start, end, start + (end - start) / 2] {
            let other = cl.classify(std::net::Ipv4Addr::from(x).into());
            assert_eq!(
                other.id, got.id,
                "{addr}: {x:#x} differs inside /{}",
                got.prefix_len
            );
        }
        let ph = host + 1;
        let ps = u32::from(v4) >> ph << ph;
        let pe = ps | ((1u64 << ph) - 1) as u32;
        let sibling = if start == ps { end.wrapping_add(1) } else { ps };
        let differs = (0..=(pe - ps).min(1 << 16)).any(|i| {
            let x = sibling.wrapping_add(i);
            x <= pe && cl.classify(std::net::Ipv4Addr::from(x).into()).id != got.id
        });
        assert!(differs, "{addr}: /{} is not the widest", got.prefix_len);
    }
}

#[test]
fn csv_errors_name_the_line() {
    let err = csv_to_mmdb("10.0.0.0/8,EU,DE,,1,\n", "c.csv".as_ref(), Kind::City)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("c.csv:1:"), "{err}");
    let err = csv_to_mmdb("# x\n10.0.0.0/8,ASx,org\n", "a.csv".as_ref(), Kind::Asn)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("a.csv:2:"), "{err}");
}

#[test]
fn without_databases_everything_is_unknown() {
    let f = Fixture::new();
    let mut cfg = f.config();
    cfg.geo = Default::default();
    let cl = Classifier::build(&cfg).unwrap();
    let got = cl.classify("198.51.100.200".parse().unwrap());
    assert_eq!(got.attrs.isp.and_then(|i| cl.isp_name(i)), Some("telecom"));
    assert_eq!(got.prefix_len, 25);
    let got = cl.classify("2001:db8::1".parse().unwrap());
    assert_eq!(got.prefix_len, 0);
    assert!(got.attrs.city.country.is_none());
}

/// The example databases (CSV descriptions shipped in `examples/geo`) load and classify.
#[test]
fn example_csv_databases_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/geo");
    let city = source::open(&dir.join("city.csv"), Kind::City).unwrap();
    let asn = source::open(&dir.join("asn.csv"), Kind::Asn).unwrap();
    let mut isps = std::collections::BTreeMap::new();
    isps.insert(
        "telecom".to_owned(),
        crate::config::Isp {
            asns: vec![4134],
            cidrs: vec![],
            cidr_files: vec![],
        },
    );
    let cl = Classifier::from_parts(
        Some((&city, &dir.join("city.csv"))),
        Some((&asn, &dir.join("asn.csv"))),
        &isps,
        vec![],
    )
    .unwrap();
    for (ip, country, isp) in [
        ("127.1.0.1", "CN", Some("telecom")),
        ("127.2.0.1", "CN", None),
        ("127.3.0.1", "DE", None),
        ("203.0.113.1", "CN", Some("telecom")),
        ("2001:db8::1", "DE", None),
    ] {
        let a = cl.classify(ip.parse().unwrap()).attrs;
        assert_eq!(
            a.city.country.map(|c| c.to_string()).as_deref(),
            Some(country),
            "{ip}"
        );
        assert_eq!(a.isp.and_then(|i| cl.isp_name(i)), isp, "{ip}");
    }
}

#[test]
fn a_database_in_the_wrong_slot_is_refused() {
    use super::source::check_type;
    assert!(check_type("GeoLite2-City", Kind::City).is_ok());
    assert!(check_type("GeoIP2-Country", Kind::City).is_ok());
    assert!(check_type("GeoLite2-ASN", Kind::Asn).is_ok());
    assert!(check_type("GeoIP2-ISP", Kind::Asn).is_ok());
    assert!(check_type("Private-Build", Kind::City).is_ok());
    let e = check_type("GeoLite2-ASN", Kind::City).unwrap_err();
    assert!(e.contains("belongs in [geo] asn"), "{e}");
    let e = check_type("GeoLite2-City", Kind::Asn).unwrap_err();
    assert!(e.contains("belongs in [geo] city"), "{e}");
    // Through the files: the example ASN CSV given as the city database.
    let dir = tempfile::tempdir().unwrap();
    let asn = dir.path().join("asn.mmdb");
    let bytes = csv_to_mmdb("192.0.2.0/24,4134,Example\n", &asn, Kind::Asn).unwrap();
    std::fs::write(&asn, &bytes).unwrap();
    let e = super::source::open(&asn, Kind::City)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("asn.mmdb") && e.contains("belongs in [geo] asn"),
        "{e}"
    );
    assert!(super::source::open(&asn, Kind::Asn).is_ok());
}

#[test]
fn bad_city_csv_rows_are_refused_with_file_and_line() {
    let f = std::path::Path::new("city.csv");
    let ok = "192.0.2.0/24,AS,CN,BJ,39.9,116.4\n";
    assert!(csv_to_mmdb(ok, f, Kind::City).is_ok());
    for (row, needle) in [
        ("192.0.2.0/24,XX,CN,,,", "field 2"),
        ("192.0.2.0/24,AS,China,,,", "field 3"),
        ("192.0.2.0/24,AS,cn,,,", "field 3"),
        ("192.0.2.0/24,AS,CN,BEIJING,,", "field 4"),
        ("192.0.2.0/24,AS,CN,,91,0", "fields 5 and 6"),
        (
            "192.0.2.0/24,AS,CN,,1,",
            "latitude and longitude go together",
        ),
        ("192.0.2.0/33,AS,CN,,,", "field 1"),
        ("192.0.2.0/24,AS,CN", "expected 6 comma-separated fields"),
    ] {
        let e = csv_to_mmdb(&format!("# c\n{row}\n"), f, Kind::City)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("city.csv:2: ") && e.contains(needle),
            "{row}: {e}"
        );
    }
    let e = csv_to_mmdb("192.0.2.0/24,ASX,Org\n", f, Kind::Asn)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("city.csv:1: field 2"), "{e}");
}
