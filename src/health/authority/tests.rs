//! The authority's rules on tables: "most specific wins" per target, the director's quorum,
//! start states, and the director's table.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{Check, CheckKind, OverrideState, OverrideTarget, Protocol, StartState};
use crate::health::verdict::{Source, Status};
use crate::health::view::{ProbeIndex, ProbeStatus};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn check(port: u16, start: StartState) -> Check {
    Check {
        kind: CheckKind::Tcp,
        port: Some(port),
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        rise: 2,
        fall: 2,
        start,
    }
}

fn target(site: &str, link: &str, addr: &str) -> DnsTarget {
    DnsTarget {
        site: site.into(),
        link: link.into(),
        addr: ip(addr),
    }
}

/// A probe view with these (key, state) pairs and overrides.
fn view(states: &[(ProbeKey, Status)], overrides: Overrides) -> HealthView {
    let index = ProbeIndex::new(states.iter().map(|(k, _)| k.clone()).collect());
    let statuses = states
        .iter()
        .map(|(_, s)| ProbeStatus::initial(*s))
        .collect();
    HealthView::new(1, Arc::new(index), statuses, Arc::new(overrides))
}

fn key(addr: &str, port: u16, start: StartState) -> ProbeKey {
    ProbeKey::for_service(ip(addr), &check(port, start)).unwrap()
}

#[test]
fn most_specific_override_wins_per_target() {
    // One address in two links of one site, and a second site.
    let targets = [
        target("hq", "telecom", "192.0.2.1"),
        target("hq", "default", "192.0.2.1"),
        target("hq", "default", "192.0.2.2"),
        target("dr", "default", "192.0.2.3"),
    ];
    let status = |o: &Overrides| -> Vec<(Status, Source)> {
        dns_table(&targets, &view(&[], o.clone()), &|_| None, None)
            .iter()
            .map(|v| (v.status, v.source))
            .collect()
    };
    let mut o = Overrides::default();
    assert!(
        status(&o)
            .iter()
            .all(|v| *v == (Status::Up, Source::Unchecked))
    );
    o.force(OverrideTarget::Site("hq".into()), OverrideState::Down);
    let s = status(&o);
    assert_eq!(s[0], (Status::Down, Source::Override(Level::Site)));
    assert_eq!(s[2], (Status::Down, Source::Override(Level::Site)));
    assert_eq!(s[3], (Status::Up, Source::Unchecked));
    o.force(
        OverrideTarget::Link {
            site: "hq".into(),
            link: "telecom".into(),
        },
        OverrideState::Drain,
    );
    let s = status(&o);
    // The link override is more specific than the site's, and only for that link.
    assert_eq!(s[0], (Status::Drain, Source::Override(Level::Link)));
    assert_eq!(s[1], (Status::Down, Source::Override(Level::Site)));
    o.force(OverrideTarget::Addr(ip("192.0.2.1")), OverrideState::Up);
    let s = status(&o);
    // The address override beats both, in every link that carries the address.
    assert_eq!(s[0], (Status::Up, Source::Override(Level::Addr)));
    assert_eq!(s[1], (Status::Up, Source::Override(Level::Addr)));
    assert_eq!(s[2], (Status::Down, Source::Override(Level::Site)));
}

#[test]
fn probes_start_states_and_director() {
    let up = key("192.0.2.1", 80, StartState::Up);
    let pending_up = key("192.0.2.2", 80, StartState::Up);
    let pending_down = key("192.0.2.3", 80, StartState::Down);
    let down = key("192.0.2.4", 80, StartState::Up);
    let v = view(
        &[
            (up, Status::Up),
            (pending_up, Status::Unknown),
            (pending_down, Status::Unknown),
            (down, Status::Down),
        ],
        Overrides::default(),
    );
    let targets: Vec<DnsTarget> = (1..=5)
        .map(|i| target("hq", "default", &format!("192.0.2.{i}")))
        .collect();
    let t = dns_table(&targets, &v, &|a| (a == ip("192.0.2.1")).then_some(false), None);
    let got: Vec<(Status, Source)> = t.iter().map(|v| (v.status, v.source)).collect();
    assert_eq!(
        got,
        vec![
            (Status::Down, Source::Director),
            (Status::Up, Source::Start),
            (Status::Down, Source::Start),
            (Status::Down, Source::Probe),
            (Status::Up, Source::Unchecked),
        ]
    );
}

#[test]
fn real_table_uses_the_service_check_and_vip_overrides() {
    let vip: SocketAddr = "203.0.113.10:80".parse().unwrap();
    let service = VirtualKey::Addr {
        protocol: Protocol::Tcp,
        addr: vip,
    };
    let c = check(8080, StartState::Down);
    let reals: Vec<SocketAddr> = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let targets: Vec<RealTarget> = reals
        .iter()
        .map(|r| RealTarget {
            service,
            real: *r,
            probe: Some(ProbeKey::for_real(*r, &c)),
        })
        .collect();
    let states = [
        (targets[0].probe.clone().unwrap(), Status::Up),
        (targets[1].probe.clone().unwrap(), Status::Down),
        (targets[2].probe.clone().unwrap(), Status::Unknown),
    ];
    let t = real_table(&targets, &view(&states, Overrides::default()));
    let st: Vec<Status> = reals.iter().map(|r| t.get(&service, r).status).collect();
    // start = "down": no result yet counts as down.
    assert_eq!(st, vec![Status::Up, Status::Down, Status::Down]);

    let mut o = Overrides::default();
    o.force(OverrideTarget::Addr(vip.ip()), OverrideState::Drain);
    o.force(OverrideTarget::Addr(reals[1].ip()), OverrideState::Up);
    let t = real_table(&targets, &view(&states, o));
    let st: Vec<Status> = reals.iter().map(|r| t.get(&service, r).status).collect();
    // The VIP's drain covers its real servers; a real server's own override is more specific.
    assert_eq!(st, vec![Status::Drain, Status::Up, Status::Drain]);
    // A real server the table does not hold counts as up (adoption before the first table).
    assert!(t.get(&service, &"10.9.9.9:80".parse().unwrap()).serves());
}
