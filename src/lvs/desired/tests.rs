//! Tests of the desired-state builder and the VIP quorum with hysteresis.

use std::time::Duration;

use super::*;
use crate::config::{Forward, LvsFlag, OnFailure, Protocol, Real, Scheduler};
use crate::health::{Source, Verdict};

pub(crate) fn svc(vip: &str, reals: &[(&str, u32)]) -> LvsService {
    LvsService {
        key: VirtualKey::Addr {
            protocol: Protocol::Tcp,
            addr: vip.parse().unwrap(),
        },
        scheduler: Scheduler::Wlc,
        forward: Forward::Dr,
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
            .map(|(a, w)| Real {
                addr: a.parse().unwrap(),
                weight: *w,
                forward: None,
                u_threshold: 0,
                l_threshold: 0,
                drain: false,
            })
            .collect(),
    }
}

pub(crate) fn lvs(services: Vec<LvsService>) -> Lvs {
    Lvs {
        site: None,
        resync: Duration::from_secs(5),
        sync: None,
        services,
    }
}

#[test]
fn service_conf_canonical_and_persistent() {
    let mut s = svc("10.0.0.1:80", &[]);
    let c = service_conf(&s);
    assert_eq!((c.flags, c.timeout, c.netmask), (0, 0, u32::MAX));
    s.persistence = Some(Duration::from_secs(600));
    s.netmask = Some(0xffff_ff00);
    s.flags = vec![LvsFlag::ShPort, LvsFlag::OnePacket];
    let c = service_conf(&s);
    assert_eq!(
        (c.flags, c.timeout, c.netmask),
        (0x1 | 0x4 | 0x10, 600, 0xffff_ff00)
    );
    s.key = VirtualKey::Fwmark {
        fwmark: 3,
        ipv6: true,
    };
    s.netmask = None;
    assert_eq!(service_conf(&s).netmask, 128);
}

#[test]
fn down_reals_weight0_or_removed_and_sorry_server() {
    let mut s = svc("10.0.0.1:80", &[("10.1.0.1:80", 5), ("10.1.0.2:80", 7)]);
    s.reals[1].forward = Some(Forward::Nat);
    s.sorry_server = Some("10.9.9.9:80".parse().unwrap());
    let key = s.key;
    let cfg = lvs(vec![s.clone()]);
    let mut h = RealTable::new();
    let d = desired(&cfg, &h);
    let ds = &d.services[&key];
    assert_eq!(ds.dests.len(), 2);
    assert_eq!(ds.healthy_weight, 12);
    assert!(!ds.sorry_active);
    let r2 = &ds.dests[&"10.1.0.2:80".parse().unwrap()];
    assert_eq!((r2.forward, r2.weight), (Forward::Nat, 7));

    h.set(key, "10.1.0.1:80".parse().unwrap(), DOWN);
    let ds = desired(&cfg, &h).services[&key].clone();
    assert_eq!(ds.dests[&"10.1.0.1:80".parse().unwrap()].weight, 0);
    assert_eq!(ds.healthy_weight, 7);

    h.set(key, "10.1.0.2:80".parse().unwrap(), DOWN);
    let ds = desired(&cfg, &h).services[&key].clone();
    assert!(ds.sorry_active);
    assert_eq!(ds.dests.len(), 3);
    assert_eq!(ds.dests[&"10.9.9.9:80".parse().unwrap()].weight, 1);

    s.on_failure = OnFailure::Remove;
    let ds = desired(&lvs(vec![s]), &h).services[&key].clone();
    assert_eq!(
        ds.dests.keys().copied().collect::<Vec<_>>(),
        vec!["10.9.9.9:80".parse().unwrap()]
    );
}

#[test]
fn vip_quorum_with_hysteresis() {
    // quorum 10, hysteresis 2: up at >= 12 once down, down below 8 once up
    assert!(vip_up(None, 10, 10, 2));
    assert!(!vip_up(None, 9, 10, 2));
    assert!(vip_up(Some(true), 8, 10, 2));
    assert!(!vip_up(Some(true), 7, 10, 2));
    assert!(!vip_up(Some(false), 11, 10, 2));
    assert!(vip_up(Some(false), 12, 10, 2));

    let s = svc("10.0.0.1:80", &[("10.1.0.1:80", 5), ("10.1.0.2:80", 5)]);
    let key = s.key;
    let mut s = s;
    s.quorum = 6;
    s.hysteresis = 2;
    let cfg = lvs(vec![s]);
    let mut h = RealTable::new();
    let st = VipState::default().next(&cfg, &desired(&cfg, &h));
    assert!(st.services[&key]);
    h.set(key, "10.1.0.1:80".parse().unwrap(), DOWN);
    // 5 >= 6 - 2: still up
    let st = st.next(&cfg, &desired(&cfg, &h));
    assert_eq!(st.ip_up("10.0.0.1".parse().unwrap()), Some(true));
    h.set(key, "10.1.0.2:80".parse().unwrap(), DOWN);
    let st = st.next(&cfg, &desired(&cfg, &h));
    assert_eq!(st.ip_up("10.0.0.1".parse().unwrap()), Some(false));
    // one back (5 < 6 + 2): still down
    h.set(key, "10.1.0.2:80".parse().unwrap(), UP);
    let st = st.next(&cfg, &desired(&cfg, &h));
    assert!(!st.services[&key]);
    assert_eq!(st.ip_up("10.0.0.2".parse().unwrap()), None);
}

#[test]
fn changed_services_between_health_views() {
    let a = svc("10.0.0.1:80", &[("10.1.0.1:80", 5)]);
    let b = svc("10.0.0.2:80", &[("10.1.0.2:80", 5)]);
    let (ka, kb) = (a.key, b.key);
    let mut h1 = RealTable::new();
    h1.set(ka, "10.1.0.1:80".parse().unwrap(), UP);
    let mut h2 = RealTable::new();
    // absent = up: no change for a
    assert!(h1.changed_services(&h2).is_empty());
    h2.set(kb, "10.1.0.2:80".parse().unwrap(), DOWN);
    assert_eq!(h1.changed_services(&h2), [kb].into());
    assert_eq!(h2.changed_services(&h1), [kb].into());
}

const UP: Verdict = Verdict::UNCHECKED;
const DOWN: Verdict = Verdict {
    status: Status::Down,
    source: Source::Probe,
};

#[test]
fn drained_reals_keep_weight0_whatever_on_failure_says() {
    let mut s = svc("10.0.0.1:80", &[("10.1.0.1:80", 5), ("10.1.0.2:80", 7)]);
    s.on_failure = OnFailure::Remove;
    s.sorry_server = Some("10.9.9.9:80".parse().unwrap());
    let key = s.key;
    let cfg = lvs(vec![s]);
    let drain = Verdict {
        status: Status::Drain,
        source: Source::Override(crate::health::Level::Addr),
    };
    let mut h = RealTable::new();
    h.set(key, "10.1.0.1:80".parse().unwrap(), drain);
    let ds = desired(&cfg, &h).services[&key].clone();
    // Kept with weight 0 (its connections continue), not removed as a down one would be.
    assert_eq!(ds.dests[&"10.1.0.1:80".parse().unwrap()].weight, 0);
    assert_eq!(ds.healthy_weight, 7);
    assert!(!ds.sorry_active);
    h.set(key, "10.1.0.2:80".parse().unwrap(), DOWN);
    let ds = desired(&cfg, &h).services[&key].clone();
    assert!(!ds.dests.contains_key(&"10.1.0.2:80".parse().unwrap()));
    assert!(ds.dests.contains_key(&"10.1.0.1:80".parse().unwrap()));
    assert!(ds.sorry_active, "no real server takes new clients");
}

#[test]
fn vip_load_has_weights_and_the_kernel_traffic() {
    use crate::lvs::model::{Dest, Service, Stats, Table};
    let s = svc("10.0.0.1:80", &[("10.1.0.1:80", 5), ("10.1.0.2:80", 7)]);
    let key = s.key;
    let cfg = lvs(vec![s]);
    let mut h = RealTable::new();
    h.set(key, "10.1.0.2:80".parse().unwrap(), DOWN);
    let want = desired(&cfg, &h);
    let mut st = VipState::default().next(&cfg, &want);
    let l = st.load[&key];
    assert_eq!((l.healthy_weight, l.total_weight), (5, 12));
    let dest = |addr: &str, active| Dest {
        conf: want.services[&key].dests[&addr.parse().unwrap()].clone(),
        active_conns: active,
        inactive_conns: 9,
        persist_conns: 0,
        stats: Stats::default(),
    };
    let table = Table {
        services: vec![(
            Service {
                conf: want.services[&key].conf.clone(),
                pe_name: None,
                stats: Stats {
                    cps: 42,
                    ..Stats::default()
                },
            },
            vec![dest("10.1.0.1:80", 3), dest("10.1.0.2:80", 4)],
        )],
    };
    st.count_traffic(&table);
    let l = st.load[&key];
    assert_eq!((l.active_conns, l.conn_rate), (7, 42));
    // The next pass keeps the traffic figures and refreshes the weights.
    let st = st.next(&cfg, &desired(&cfg, &RealTable::new()));
    let l = st.load[&key];
    assert_eq!((l.healthy_weight, l.active_conns), (12, 7));
}

/// `spill_at`/`spill_resume`: full at 90 % of capacity, not full again below 70 %, unchanged
/// in between; an address is full when an up service on it is.
#[test]
fn a_vip_is_full_from_spill_at_until_below_spill_resume() {
    use crate::config::SpillAt;
    let mut l = VipLoad {
        capacity: 100,
        spill: Some(SpillAt { at: 90, resume: 70 }),
        ..VipLoad::default()
    };
    let mut seen = Vec::new();
    for conns in [10, 89, 90, 120, 80, 70, 69, 85, 90] {
        l.active_conns = conns;
        l.full = l.next_full();
        seen.push(l.full);
    }
    assert_eq!(
        seen,
        [false, false, true, true, true, true, false, false, true]
    );
    // No capacity or no spill_at: never full.
    l.spill = None;
    assert!(!l.next_full());

    let mut s = svc("10.0.0.1:80", &[("10.1.0.1:80", 5)]);
    s.capacity = Some(10);
    s.spill = Some(SpillAt { at: 50, resume: 40 });
    let key = s.key;
    let cfg = lvs(vec![s]);
    let h = RealTable::new();
    let mut st = VipState::default().next(&cfg, &desired(&cfg, &h));
    let ip = "10.0.0.1".parse().unwrap();
    assert!(!st.ip_full(ip));
    st.load.get_mut(&key).unwrap().active_conns = 5;
    let l = st.load[&key];
    st.load.get_mut(&key).unwrap().full = l.next_full();
    assert!(st.ip_full(ip));
    assert!(!st.ip_full("10.0.0.2".parse().unwrap()));
    // A reload keeps the state while spill_at stays, and clears it when it goes.
    let st2 = st.next(&cfg, &desired(&cfg, &h));
    assert!(st2.ip_full(ip));
    let mut plain = cfg.clone();
    plain.services[0].spill = None;
    assert!(!st.next(&plain, &desired(&plain, &h)).ip_full(ip));
    // A VIP whose quorum is lost is down, not full.
    st.services.insert(key, false);
    assert!(!st.ip_full(ip));
}
