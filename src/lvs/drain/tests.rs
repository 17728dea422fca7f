//! Tests of drain as a state: weight 0 while connections remain, deleted when none remain
//! (counted after the kernel had weight 0) or at the deadline, out while the drain lasts, back
//! when it ends; and a drain of 100 real servers done in one pass.

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::config::{OnFailure, VirtualKey};
use crate::health::{Level, RealTable, Source, Status, Verdict};
use crate::lvs::desired::desired;
use crate::lvs::desired::tests::{lvs, svc};
use crate::lvs::diff::tests::table_of;
use crate::lvs::diff::{Op, apply_op, diff};

const DRAIN: Verdict = Verdict {
    status: Status::Drain,
    source: Source::Override(Level::Addr),
};
const DOWN: Verdict = Verdict {
    status: Status::Down,
    source: Source::Probe,
};

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn a(addr: &str) -> SocketAddr {
    addr.parse().unwrap()
}

fn set_conns(t: &mut crate::lvs::Table, key: &VirtualKey, addr: &str, active: u32) {
    for (svc, dests) in &mut t.services {
        if svc.conf.key == *key {
            for d in dests.iter_mut().filter(|d| d.conf.addr == a(addr)) {
                d.active_conns = active;
            }
        }
    }
}

/// One pass: desired, settle, diff, apply to the model table. Returns the operations.
fn pass(
    book: &mut DrainBook,
    cfg: &crate::config::Lvs,
    h: &RealTable,
    table: &mut crate::lvs::Table,
    now: Duration,
) -> Vec<Op> {
    let mut want = desired(cfg, h);
    settle_all(book, cfg, &mut want, table, now, true);
    let ops = diff(&want, table, &BTreeSet::new()).ops;
    for op in &ops {
        apply_op(table, op);
    }
    ops
}

fn is_weight0(ops: &[Op]) -> bool {
    matches!(ops, [Op::EditDest { dest, .. }] if dest.weight == 0)
}

#[test]
fn drain_waits_for_connections_then_deletes_and_returns_when_cleared() {
    let cfg = lvs(vec![svc(
        "10.0.0.1:80",
        &[("10.1.0.1:80", 5), ("10.1.0.2:80", 7)],
    )]);
    let key = cfg.services[0].key;
    let mut h = RealTable::new();
    let mut table = table_of(&desired(&cfg, &h));
    let mut book = DrainBook::default();
    set_conns(&mut table, &key, "10.1.0.1:80", 3);
    h.set(key, a("10.1.0.1:80"), DRAIN);
    let ops = pass(&mut book, &cfg, &h, &mut table, s(0));
    assert!(is_weight0(&ops), "{ops:?}");
    assert!(book.is_waiting());
    // connections remain: nothing more
    assert!(pass(&mut book, &cfg, &h, &mut table, s(5)).is_empty());
    // the last one ends: deleted, and it stays out while the drain lasts
    set_conns(&mut table, &key, "10.1.0.1:80", 0);
    let ops = pass(&mut book, &cfg, &h, &mut table, s(6));
    assert_eq!(
        ops,
        vec![Op::DeleteDest {
            service: key,
            addr: a("10.1.0.1:80")
        }]
    );
    let d = book.get(&key, &a("10.1.0.1:80")).unwrap();
    assert_eq!(d.ended, Some(DrainEnd::Idle));
    assert!(!book.is_waiting());
    assert!(pass(&mut book, &cfg, &h, &mut table, s(7)).is_empty());
    // the drain ends: back with its weight, and the book forgets it
    h.set(key, a("10.1.0.1:80"), Verdict::UNCHECKED);
    let ops = pass(&mut book, &cfg, &h, &mut table, s(8));
    assert!(
        matches!(&ops[..], [Op::AddDest { dest, .. }] if dest.weight == 5),
        "{ops:?}"
    );
    assert_eq!(book.get(&key, &a("10.1.0.1:80")), None);
}

#[test]
fn a_count_read_before_weight_0_never_ends_a_drain() {
    let cfg = lvs(vec![svc("10.0.0.1:80", &[("10.1.0.1:80", 5)])]);
    let key = cfg.services[0].key;
    let mut h = RealTable::new();
    let mut table = table_of(&desired(&cfg, &h));
    let mut book = DrainBook::default();
    h.set(key, a("10.1.0.1:80"), DRAIN);
    // 0 connections, but the kernel still has weight 5: first quiesce
    let ops = pass(&mut book, &cfg, &h, &mut table, s(0));
    assert!(is_weight0(&ops), "{ops:?}");
    // a count not read in this pass does not end it either
    let mut want = desired(&cfg, &h);
    settle_all(&mut book, &cfg, &mut want, &table, s(1), false);
    assert!(diff(&want, &table, &BTreeSet::new()).ops.is_empty());
    // read after weight 0: deleted
    let ops = pass(&mut book, &cfg, &h, &mut table, s(1));
    assert!(matches!(&ops[..], [Op::DeleteDest { .. }]), "{ops:?}");
}

#[test]
fn deadline_deletes_with_connections_left_and_absent_ones_are_not_added() {
    let mut sv = svc("10.0.0.1:80", &[("10.1.0.1:80", 5), ("10.1.0.2:80", 7)]);
    sv.drain_deadline = Some(s(30));
    sv.on_failure = OnFailure::Drain;
    sv.reals[1].drain = true;
    let cfg = lvs(vec![sv]);
    let key = cfg.services[0].key;
    let only_first = lvs(vec![svc("10.0.0.1:80", &[("10.1.0.1:80", 5)])]);
    let mut table = table_of(&desired(&only_first, &RealTable::new()));
    let mut book = DrainBook::default();
    let mut h = RealTable::new();
    // on_failure = "drain": a failing check drains
    h.set(key, a("10.1.0.1:80"), DOWN);
    set_conns(&mut table, &key, "10.1.0.1:80", 2);
    let ops = pass(&mut book, &cfg, &h, &mut table, s(100));
    // .2 (drain = true in the file) was never in the kernel: not added
    assert!(is_weight0(&ops), "{ops:?}");
    assert_eq!(
        book.get(&key, &a("10.1.0.2:80")).unwrap().ended,
        Some(DrainEnd::Absent)
    );
    set_conns(&mut table, &key, "10.1.0.1:80", 2);
    assert!(pass(&mut book, &cfg, &h, &mut table, s(129)).is_empty());
    let ops = pass(&mut book, &cfg, &h, &mut table, s(130));
    assert!(matches!(&ops[..], [Op::DeleteDest { .. }]), "{ops:?}");
    assert_eq!(
        book.get(&key, &a("10.1.0.1:80")).unwrap().ended,
        Some(DrainEnd::Deadline)
    );
}

#[test]
fn udp_entries_count_until_they_expire() {
    let mut sv = svc("10.0.0.1:53", &[("10.1.0.1:53", 5)]);
    sv.key = VirtualKey::Addr {
        protocol: crate::config::Protocol::Udp,
        addr: a("10.0.0.1:53"),
    };
    let cfg = lvs(vec![sv]);
    let mut table = table_of(&desired(&cfg, &RealTable::new()));
    let d = &mut table.services[0].1[0];
    d.inactive_conns = 4;
    assert_eq!(remaining(&cfg.services[0].key, d), 4);
    let tcp = svc("10.0.0.1:80", &[]).key;
    assert_eq!(remaining(&tcp, d), 0);
}

/// A drain of 100 real servers at once (10 services x 10, as an override on each VIP's
/// address gives) is one pass of 100 weight-0 edits; when their connections end, one more
/// pass deletes all of them; the next pass has nothing to do.
#[test]
fn a_drain_of_100_real_servers_is_one_pass() {
    let services: Vec<_> = (0..10)
        .map(|i| {
            let reals: Vec<(String, u32)> =
                (0..10).map(|j| (format!("10.1.{i}.{j}:80"), 3)).collect();
            let reals: Vec<(&str, u32)> = reals.iter().map(|(a, w)| (a.as_str(), *w)).collect();
            svc(&format!("10.0.0.{i}:80"), &reals)
        })
        .collect();
    let cfg = lvs(services);
    let mut table = table_of(&desired(&cfg, &RealTable::new()));
    for (_, dests) in &mut table.services {
        for d in dests.iter_mut() {
            d.active_conns = 1;
        }
    }
    let mut h = RealTable::new();
    for s in &cfg.services {
        for r in &s.reals {
            h.set(s.key, r.addr, DRAIN);
        }
    }
    let mut book = DrainBook::default();
    let ops = pass(&mut book, &cfg, &h, &mut table, s(0));
    assert_eq!(ops.len(), 100);
    assert!(
        ops.iter()
            .all(|o| matches!(o, Op::EditDest { dest, .. } if dest.weight == 0))
    );
    for (_, dests) in &mut table.services {
        for d in dests.iter_mut() {
            d.active_conns = 0;
        }
    }
    let ops = pass(&mut book, &cfg, &h, &mut table, s(1));
    assert_eq!(ops.len(), 100);
    assert!(ops.iter().all(|o| matches!(o, Op::DeleteDest { .. })));
    assert!(pass(&mut book, &cfg, &h, &mut table, s(2)).is_empty());
    assert!(!book.is_waiting());
}
