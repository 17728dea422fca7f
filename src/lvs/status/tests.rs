//! Tests of the director's status: states of real servers, drains with their counts and
//! deadline, load over capacity, JSON and Prometheus lines.

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::config::OnFailure;
use crate::health::{Level, RealTable, Source, Status, Verdict};
use crate::lvs::desired::desired;
use crate::lvs::desired::tests::{lvs, svc};
use crate::lvs::diff::tests::table_of;
use crate::lvs::diff::{apply_op, diff};
use crate::lvs::drain::settle_all;

#[test]
fn states_drains_load_json_and_metrics() {
    let mut sv = svc(
        "10.0.0.1:80",
        &[("10.1.0.1:80", 5), ("10.1.0.2:80", 7), ("10.1.0.3:80", 2)],
    );
    sv.on_failure = OnFailure::Remove;
    sv.drain_deadline = Some(Duration::from_secs(60));
    sv.capacity = Some(200);
    let cfg = lvs(vec![sv]);
    let key = cfg.services[0].key;
    let mut table = table_of(&desired(&cfg, &RealTable::new()));
    table.services[0].1[0].active_conns = 40;
    table.services[0].1[0].stats.conns = 1234;
    let mut h = RealTable::new();
    h.set(
        key,
        "10.1.0.1:80".parse().unwrap(),
        Verdict {
            status: Status::Drain,
            source: Source::Override(Level::Addr),
        },
    );
    h.set(
        key,
        "10.1.0.3:80".parse().unwrap(),
        Verdict {
            status: Status::Down,
            source: Source::Probe,
        },
    );
    let mut want = desired(&cfg, &h);
    let mut book = DrainBook::default();
    settle_all(
        &mut book,
        &cfg,
        &mut want,
        &table,
        Duration::from_secs(10),
        true,
    );
    for op in diff(&want, &table, &BTreeSet::new()).ops {
        apply_op(&mut table, &op);
    }
    let mut vip = VipState::default().next(&cfg, &want);
    vip.count_traffic(&table);
    let st = DirectorStatus::build(
        &cfg,
        &table,
        Some(&want),
        &book,
        &vip,
        Duration::from_secs(25),
    );
    let reals = &st.services[0].reals;
    assert_eq!(reals[0].state, RealState::Draining);
    assert_eq!(reals[0].weight, Some(0));
    assert_eq!(reals[0].active_conns, 40);
    let d = reals[0].drain.unwrap();
    assert_eq!(d.elapsed, Duration::from_secs(15));
    assert_eq!(d.deadline_in, Some(Duration::from_secs(45)));
    assert_eq!(reals[1].state, RealState::Up);
    assert_eq!(reals[2].state, RealState::Removed);
    assert_eq!(reals[2].weight, None);
    assert_eq!(st.services[0].load.load_permille(), Some(200));
    let j = st.json();
    assert_eq!(j["services"][0]["reals"][0]["state"], "draining");
    assert_eq!(j["services"][0]["reals"][0]["drain"]["deadline_in_s"], 45);
    assert_eq!(j["services"][0]["load"]["capacity"], 200);
    assert_eq!(j["services"][0]["load"]["load_permille"], 200);
    let text = st.prometheus();
    assert!(
        text.contains(
            "meridian_lvs_real_connections_total{service=\"TCP 10.0.0.1:80\",real=\"10.1.0.1:80\"} 1234\n"
        ),
        "{text}"
    );
    assert!(text.contains(
        "meridian_lvs_real_draining{service=\"TCP 10.0.0.1:80\",real=\"10.1.0.1:80\"} 1\n"
    ));
    assert!(
        text.contains("meridian_lvs_service_active_connections{service=\"TCP 10.0.0.1:80\"} 40\n")
    );
    assert!(text.contains("meridian_lvs_service_capacity{service=\"TCP 10.0.0.1:80\"} 200\n"));
    // no spill mark, no full series
    assert!(!text.contains("meridian_lvs_service_full{"), "{text}");
    let mut st = st;
    st.services[0].load.spill = Some(crate::config::SpillAt { at: 90, resume: 80 });
    st.services[0].load.full = true;
    assert!(
        st.prometheus()
            .contains("meridian_lvs_service_full{service=\"TCP 10.0.0.1:80\"} 1\n")
    );
    // the removed real server has no weight line
    assert!(
        !text
            .contains("meridian_lvs_real_weight{service=\"TCP 10.0.0.1:80\",real=\"10.1.0.3:80\"}")
    );
}
