//! Tests of the pure real-server plan: which VIPs go where, what is already so, the record and
//! its undo.

use super::*;
use crate::config::{Lvs, LvsService};
use crate::config::{OnFailure, Protocol, Real, Scheduler, VirtualKey};

fn service(vip: &str, forward: Forward, reals: &[(&str, Option<Forward>)]) -> LvsService {
    LvsService {
        key: VirtualKey::Addr {
            protocol: Protocol::Tcp,
            addr: vip.parse().unwrap(),
        },
        scheduler: Scheduler::Wlc,
        forward,
        persistence: None,
        netmask: None,
        flags: vec![],
        on_failure: OnFailure::Weight0,
        drain_deadline: None,
        capacity: None,
        spill: None,
        sorry_server: None,
        quorum: 1,
        hysteresis: 0,
        check: None,
        reals: reals
            .iter()
            .map(|(a, f)| Real {
                addr: a.parse().unwrap(),
                weight: 1,
                forward: *f,
                u_threshold: 0,
                l_threshold: 0,
                drain: false,
            })
            .collect(),
    }
}

fn cfg() -> Lvs {
    Lvs {
        site: None,
        resync: std::time::Duration::from_secs(10),
        sync: None,
        services: vec![
            service(
                "10.9.9.1:80",
                Forward::Dr,
                &[("10.9.0.21:80", None), ("10.9.0.22:80", None)],
            ),
            service("10.9.9.1:443", Forward::Dr, &[("10.9.0.21:443", None)]),
            service("10.9.9.2:80", Forward::Tun, &[("10.9.0.21:80", None)]),
            service("10.9.9.3:80", Forward::Nat, &[("10.9.0.21:80", None)]),
            service(
                "10.9.9.4:80",
                Forward::Nat,
                &[("10.9.0.21:80", Some(Forward::Dr))],
            ),
        ],
    }
}

fn local(ips: &[&str]) -> BTreeSet<IpAddr> {
    ips.iter().map(|i| i.parse().unwrap()).collect()
}

fn on(dev: &str, ip: &str) -> DevAddr {
    DevAddr {
        dev: dev.into(),
        ip: ip.parse().unwrap(),
    }
}

#[test]
fn vips_by_method_for_this_hosts_real_servers() {
    let w = wanted(&cfg(), &local(&["10.9.0.21"]));
    let want: BTreeSet<DevAddr> = [
        on("lo", "10.9.9.1"),
        on("tunl0", "10.9.9.2"),
        on("lo", "10.9.9.4"),
    ]
    .into_iter()
    .collect();
    assert_eq!(w.addrs, want);
    assert!(w.arp && w.tunnel);
    let w = wanted(&cfg(), &local(&["10.9.0.22"]));
    assert_eq!(w.addrs.len(), 1);
    assert!(!w.tunnel);
    assert!(wanted(&cfg(), &local(&["10.9.0.99"])).addrs.is_empty());
}

fn bare_host() -> Seen {
    let mut s = Seen::default();
    s.links.insert("lo".into(), true);
    s.links.insert("eth0".into(), true);
    for (k, v) in [
        (ARP_IGNORE, "0"),
        (ARP_ANNOUNCE, "0"),
        (RP_FILTER_ALL, "1"),
        (RP_FILTER_DEFAULT, "1"),
    ] {
        s.sysctls.insert(k.into(), v.into());
    }
    s
}

#[test]
fn plan_then_nothing_left_then_undo() {
    let w = wanted(&cfg(), &local(&["10.9.0.21"]));
    let mut seen = bare_host();
    let changes = plan(&w, &seen);
    let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "create ipip device tunl0",
            "set tunl0 up",
            "net.ipv4.conf.all.arp_ignore = 1 (was 0)",
            "net.ipv4.conf.all.arp_announce = 2 (was 0)",
            "net.ipv4.conf.tunl0.rp_filter = 2 (was 1)",
            "add 10.9.9.1/32 on lo",
            "add 10.9.9.4/32 on lo",
            "add 10.9.9.2/32 on tunl0",
        ]
    );
    let mut record = Record::default();
    record.note(&changes);
    // the host after `up`
    seen.links.insert("tunl0".into(), true);
    seen.sysctls.insert(ARP_IGNORE.into(), "1".into());
    seen.sysctls.insert(ARP_ANNOUNCE.into(), "2".into());
    seen.sysctls.insert(rp_filter_of("tunl0"), "2".into());
    seen.addrs.extend(w.addrs.iter().cloned());
    assert!(plan(&w, &seen).is_empty(), "idempotent");
    // a second `up` records nothing new, and keeps the first old values
    let again = record.clone();
    record.note(&plan(&w, &seen));
    assert_eq!(record, again);
    // someone removed an address: drift is that one
    seen.addrs.remove(&on("lo", "10.9.9.4"));
    assert_eq!(plan(&w, &seen), vec![Change::AddAddr(on("lo", "10.9.9.4"))]);
    seen.addrs.insert(on("lo", "10.9.9.4"));
    let undo_text: Vec<String> = undo(&record, &seen)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        undo_text,
        [
            "remove 10.9.9.1/32 on lo",
            "remove 10.9.9.4/32 on lo",
            "remove 10.9.9.2/32 on tunl0",
            "net.ipv4.conf.all.arp_ignore = 0 (was 1)",
            "net.ipv4.conf.all.arp_announce = 0 (was 2)",
            "net.ipv4.conf.tunl0.rp_filter = 1 (was 2)",
            "set tunl0 down",
        ]
    );
}

#[test]
fn settings_already_stricter_are_kept() {
    let w = wanted(&cfg(), &local(&["10.9.0.22"]));
    let mut seen = bare_host();
    seen.sysctls.insert(ARP_IGNORE.into(), "2".into());
    seen.sysctls.insert(ARP_ANNOUNCE.into(), "2".into());
    assert_eq!(plan(&w, &seen), vec![Change::AddAddr(on("lo", "10.9.9.1"))]);
}
