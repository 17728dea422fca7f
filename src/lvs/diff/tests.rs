//! Tests of the pure diff: minimal operations, in-place edits, ordering and ownership.

use std::collections::BTreeSet;

use super::*;
use crate::config::{LvsFlag, Scheduler};
use crate::health::RealTable;
use crate::lvs::desired::desired;
use crate::lvs::desired::tests::{lvs, svc};
use crate::lvs::model::{Dest, Service, Stats};

/// The kernel table that exactly matches `want`.
pub(crate) fn table_of(want: &Desired) -> Table {
    Table {
        services: want
            .services
            .values()
            .map(|w| {
                let dests = w
                    .dests
                    .values()
                    .map(|d| Dest {
                        conf: d.clone(),
                        active_conns: 0,
                        inactive_conns: 0,
                        persist_conns: 0,
                        stats: Stats::default(),
                    })
                    .collect();
                (
                    Service {
                        conf: w.conf.clone(),
                        pe_name: None,
                        stats: Stats::default(),
                    },
                    dests,
                )
            })
            .collect(),
    }
}

fn none() -> BTreeSet<VirtualKey> {
    BTreeSet::new()
}

#[test]
fn from_empty_adds_everything_services_first() {
    let cfg = lvs(vec![
        svc("10.0.0.1:80", &[("10.1.0.1:80", 1), ("10.1.0.2:80", 2)]),
        svc("10.0.0.2:80", &[("10.1.0.3:80", 3)]),
    ]);
    let want = desired(&cfg, &RealTable::new());
    let plan = diff(&want, &Table::default(), &none());
    assert_eq!(plan.ops.len(), 5);
    assert!(matches!(plan.ops[0], Op::AddService(_)));
    assert!(matches!(plan.ops[1], Op::AddService(_)));
    assert!(
        plan.ops[2..]
            .iter()
            .all(|o| matches!(o, Op::AddDest { .. }))
    );
    assert_eq!(plan.ops[0].to_string(), "-A -t 10.0.0.1:80 -s wlc");
    assert_eq!(
        plan.ops[2].to_string(),
        "-a -t 10.0.0.1:80 -r 10.1.0.1:80 -g -w 1"
    );
}

#[test]
fn converged_table_gives_zero_ops_and_reports_strangers() {
    let cfg = lvs(vec![svc("10.0.0.1:80", &[("10.1.0.1:80", 1)])]);
    let want = desired(&cfg, &RealTable::new());
    let mut have = table_of(&want);
    let stranger = desired(
        &lvs(vec![svc("10.0.0.9:80", &[("10.1.0.9:80", 1)])]),
        &RealTable::new(),
    );
    have.services.extend(table_of(&stranger).services);
    let plan = diff(&want, &have, &none());
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
    assert_eq!(
        plan.unmanaged,
        vec![*stranger.services.keys().next().unwrap()]
    );
}

#[test]
fn changes_are_in_place_and_ordered() {
    let before = lvs(vec![svc(
        "10.0.0.1:80",
        &[("10.1.0.1:80", 1), ("10.1.0.2:80", 2), ("10.1.0.3:80", 3)],
    )]);
    let have = table_of(&desired(&before, &RealTable::new()));
    let mut s = svc(
        "10.0.0.1:80",
        &[("10.1.0.1:80", 0), ("10.1.0.2:80", 9), ("10.1.0.4:80", 4)],
    );
    s.scheduler = Scheduler::Rr;
    let key = s.key;
    let after = lvs(vec![s]);
    let plan = diff(&desired(&after, &RealTable::new()), &have, &none());
    let text: Vec<String> = plan.ops.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            "-E -t 10.0.0.1:80 -s rr",
            "-e -t 10.0.0.1:80 -r 10.1.0.2:80 -g -w 9",
            "-a -t 10.0.0.1:80 -r 10.1.0.4:80 -g -w 4",
            "-e -t 10.0.0.1:80 -r 10.1.0.1:80 -g -w 0",
            "-d -t 10.0.0.1:80 -r 10.1.0.3:80",
        ]
    );
    assert!(plan.ops.iter().all(|o| *o.service() == key));
    assert!(!plan.ops.iter().any(|o| matches!(o, Op::DeleteService(_))));
}

#[test]
fn owned_services_that_left_the_config_are_deleted_last() {
    let a = svc("10.0.0.1:80", &[("10.1.0.1:80", 1)]);
    let b = svc("10.0.0.2:80", &[("10.1.0.2:80", 1)]);
    let (ka, kb) = (a.key, b.key);
    let have = table_of(&desired(&lvs(vec![a.clone(), b]), &RealTable::new()));
    let mut a2 = a;
    a2.reals[0].weight = 5;
    let owned: BTreeSet<_> = [ka, kb].into();
    let plan = diff(&desired(&lvs(vec![a2]), &RealTable::new()), &have, &owned);
    assert_eq!(plan.ops.len(), 2);
    assert_eq!(plan.ops[1], Op::DeleteService(kb));
    assert!(plan.unmanaged.is_empty());
}

#[test]
fn hand_made_drift_is_repaired() {
    let cfg = lvs(vec![svc("10.0.0.1:80", &[("10.1.0.1:80", 1)])]);
    let want = desired(&cfg, &RealTable::new());
    let mut have = table_of(&want);
    // someone added a real server and changed a weight by hand
    let mut extra = have.services[0].1[0].clone();
    extra.conf.addr = "10.1.0.77:80".parse().unwrap();
    have.services[0].1.push(extra);
    have.services[0].1[0].conf.weight = 50;
    have.services[0].0.conf.flags = SVC_F_ONEPACKET;
    let plan = diff(&want, &have, &none());
    let text: Vec<String> = plan.ops.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            "-E -t 10.0.0.1:80 -s wlc",
            "-e -t 10.0.0.1:80 -r 10.1.0.1:80 -g -w 1",
            "-d -t 10.0.0.1:80 -r 10.1.0.77:80",
        ]
    );
}

#[test]
fn display_of_fwmark_persistent_flags_and_thresholds() {
    let mut s = svc("10.0.0.1:80", &[("10.1.0.1:0", 3)]);
    s.key = VirtualKey::Fwmark {
        fwmark: 7,
        ipv6: false,
    };
    s.scheduler = Scheduler::Mh;
    s.flags = vec![LvsFlag::MhFallback, LvsFlag::MhPort];
    s.persistence = Some(std::time::Duration::from_secs(300));
    s.netmask = Some(0xffff_ff00);
    s.reals[0].forward = Some(Forward::Tun);
    s.reals[0].u_threshold = 100;
    s.reals[0].l_threshold = 10;
    let plan = diff(
        &desired(&lvs(vec![s]), &RealTable::new()),
        &Table::default(),
        &none(),
    );
    assert_eq!(
        plan.ops[0].to_string(),
        "-A -f 7 -s mh -p 300 -M 255.255.255.0 -b mh-fallback,mh-port"
    );
    assert_eq!(
        plan.ops[1].to_string(),
        "-a -f 7 -r 10.1.0.1:0 -i -w 3 -x 100 -y 10"
    );
}

#[test]
fn applying_a_plan_to_the_model_converges() {
    let before = lvs(vec![
        svc("10.0.0.1:80", &[("10.1.0.1:80", 1), ("10.1.0.2:80", 2)]),
        svc("10.0.0.2:80", &[("10.1.0.3:80", 3)]),
    ]);
    let mut table = table_of(&desired(&before, &RealTable::new()));
    let mut a = svc("10.0.0.1:80", &[("10.1.0.2:80", 5), ("10.1.0.9:80", 1)]);
    a.scheduler = Scheduler::Sh;
    let owned: BTreeSet<_> = table.services.iter().map(|(s, _)| s.conf.key).collect();
    let after = desired(
        &lvs(vec![a, svc("10.0.0.3:80", &[("10.1.0.4:80", 1)])]),
        &RealTable::new(),
    );
    let plan = diff(&after, &table, &owned);
    assert!(!plan.ops.is_empty());
    for op in &plan.ops {
        apply_op(&mut table, op);
    }
    assert_eq!(diff(&after, &table, &owned).ops, vec![]);
    assert_eq!(table.services.len(), 2);
}
