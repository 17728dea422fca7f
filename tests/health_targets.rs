//! Building the probe set from a typed [`Config`]: which (address, check) pairs get probed,
//! deduplicated across services, with ports resolved.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use meridian::config::{
    Check, CheckKind, Config, Fallback, Forward, Geo, HealthSettings, Lvs, LvsService, Mode,
    OnFailure, Protocol, Real, Server, Service, Site, StartState, VirtualKey,
};
use meridian::health::{ProbeKey, TargetSet};

fn tcp_check(interval_ms: u64, timeout_ms: u64, rise: u32, fall: u32) -> Check {
    Check {
        kind: CheckKind::Tcp,
        port: None,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        rise,
        fall,
        start: StartState::Down,
    }
}

fn config_with(services: Vec<(&str, Vec<&str>, Option<Check>)>, lvs: Option<Lvs>) -> Config {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut sites = BTreeMap::new();
    sites.insert(
        "hq".to_owned(),
        Site {
            location: None,
            links: BTreeMap::from([
                ("telecom".to_owned(), vec![ip("192.0.2.10")]),
                (
                    "default".to_owned(),
                    vec![ip("192.0.2.10"), ip("2001:db8::10")],
                ),
            ]),
        },
    );
    sites.insert(
        "dr".to_owned(),
        Site {
            location: None,
            links: BTreeMap::from([("default".to_owned(), vec![ip("192.0.2.20")])]),
        },
    );
    let services = services
        .into_iter()
        .map(|(name, site_list, check)| {
            (
                name.to_owned(),
                Service {
                    name: name.to_owned(),
                    fqdn: format!("{name}.example.test."),
                    ttl: 30,
                    sites: site_list.into_iter().map(str::to_owned).collect(),
                    mode: Mode::Failover,
                    weights: BTreeMap::new(),
                    fallback: Fallback::All,
                    check,
                    routes: Vec::new(),
                },
            )
        })
        .collect();
    Config {
        source: "test.toml".into(),
        server: Server {
            listen: vec!["127.0.0.1:5353".parse().unwrap()],
            zone_files: Vec::new(),
            max_udp_payload: 1232,
            udp_threads: 1,
            admin: None,
            query_log: false,
        },
        geo: Geo::default(),
        isps: BTreeMap::new(),
        sites,
        services,
        health: HealthSettings::default(),
        overrides: Vec::new(),
        lvs,
    }
}

#[test]
fn target_set_from_config_dedupes_shared_targets() {
    let mut c80 = tcp_check(1000, 500, 2, 2);
    c80.port = Some(80);
    let mut c443 = c80.clone();
    c443.port = Some(443);
    let config = config_with(
        vec![
            ("www", vec!["hq", "dr"], Some(c80.clone())),
            ("api", vec!["hq"], Some(c80.clone())),
            ("tls", vec!["hq"], Some(c443.clone())),
            ("nocheck", vec!["hq", "dr"], None),
        ],
        Some(Lvs {
            site: Some("hq".into()),
            resync: Duration::from_secs(10),
            services: vec![LvsService {
                key: VirtualKey::Addr {
                    protocol: Protocol::Tcp,
                    addr: "203.0.113.10:80".parse().unwrap(),
                },
                scheduler: "wlc".into(),
                forward: Forward::Dr,
                persistence: None,
                netmask: None,
                flags: Vec::new(),
                on_failure: OnFailure::Weight0,
                sorry_server: None,
                quorum: 1,
                hysteresis: 0,
                check: Some(tcp_check(1000, 500, 2, 2)),
                reals: ["10.0.0.1:8080", "10.0.0.2:8080"]
                    .iter()
                    .map(|a| Real {
                        addr: a.parse().unwrap(),
                        weight: 100,
                        forward: None,
                        u_threshold: 0,
                        l_threshold: 0,
                    })
                    .collect(),
            }],
        }),
    );
    let set = TargetSet::from_config(&config).unwrap();
    // www+api share hq's two addresses on :80 (192.0.2.10 appears on two links too) plus dr's
    // one; tls adds hq's two on :443; the LVS reals add two on their own port.
    assert_eq!(set.len(), 3 + 2 + 2, "{set:?}");
    assert!(set.contains(&ProbeKey::for_service("192.0.2.20".parse().unwrap(), &c80).unwrap()));
    assert!(set.contains(&ProbeKey::for_service("2001:db8::10".parse().unwrap(), &c443).unwrap()));
    let real = ProbeKey::for_real(
        "10.0.0.2:8080".parse().unwrap(),
        &tcp_check(1000, 500, 2, 2),
    );
    assert!(set.contains(&real));
    assert_eq!(real.addr.port(), 8080);

    // A tcp check without a port on a DNS service cannot be probed.
    let bad = config_with(
        vec![("www", vec!["hq"], Some(tcp_check(1000, 500, 2, 2)))],
        None,
    );
    assert!(TargetSet::from_config(&bad).is_err());
}
