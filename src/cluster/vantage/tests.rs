//! The vantage rule case by case, partitions included.

use std::time::Duration;

use super::*;
use ProbeState::{Down, Up};

fn rule(quorum: Quorum) -> Vantage {
    Vantage {
        quorum,
        stale_after: Duration::from_secs(15),
    }
}

fn own(state: Option<ProbeState>) -> OwnInput {
    OwnInput {
        node: "self".into(),
        state,
    }
}

fn peer(node: &str, liveness: Liveness, obs: Option<(ProbeState, u64)>) -> PeerInput {
    PeerInput {
        node: node.into(),
        liveness,
        observation: obs.map(|(s, secs)| (s, Duration::from_secs(secs))),
    }
}

fn alive(node: &str, s: ProbeState) -> PeerInput {
    peer(node, Liveness::Alive, Some((s, 1)))
}

fn verdict(o: Option<ProbeState>, peers: &[PeerInput], q: Quorum) -> Verdict {
    decide(&own(o), peers, &rule(q)).verdict
}

#[test]
fn majority_of_three_fresh_observers() {
    let d = decide(
        &own(Some(Down)),
        &[alive("a", Down), alive("b", Up)],
        &rule(Quorum::Majority),
    );
    assert_eq!(d.verdict, Verdict::Down);
    assert_eq!((d.explanation.down, d.explanation.needed), (2, 2));
    assert_eq!(d.explanation.basis, Basis::Quorum);
    assert_eq!(
        verdict(
            Some(Up),
            &[alive("a", Down), alive("b", Up)],
            Quorum::Majority
        ),
        Verdict::Up
    );
}

#[test]
fn one_broken_vantage_point_cannot_take_a_target_down() {
    // This node's own path to the target is cut; two peers still reach it.
    assert_eq!(
        verdict(
            Some(Down),
            &[alive("a", Up), alive("b", Up)],
            Quorum::Majority
        ),
        Verdict::Up
    );
    // The same seen from a healthy peer.
    assert_eq!(
        verdict(
            Some(Up),
            &[alive("self-cut", Down), alive("b", Up)],
            Quorum::Majority
        ),
        Verdict::Up
    );
}

#[test]
fn an_isolated_node_follows_its_own_probe() {
    let peers = [
        peer("a", Liveness::Dead, Some((Up, 1))),
        peer("b", Liveness::Dead, Some((Up, 1))),
    ];
    let d = decide(&own(Some(Down)), &peers, &rule(Quorum::Majority));
    assert_eq!(d.verdict, Verdict::Down);
    assert_eq!(d.explanation.basis, Basis::OwnOnly);
    assert_eq!(d.explanation.ignored.len(), 2);
    assert_eq!(verdict(Some(Up), &peers, Quorum::All), Verdict::Up);
}

#[test]
fn stale_silent_and_dead_peers_are_unknown_not_down() {
    let peers = [
        peer("stale", Liveness::Alive, Some((Down, 15))),
        peer("silent", Liveness::Alive, None),
        peer("dead", Liveness::Dead, Some((Down, 0))),
        peer("fresh", Liveness::Alive, Some((Up, 14))),
    ];
    let d = decide(&own(Some(Down)), &peers, &rule(Quorum::Majority));
    // Fresh: self (down) and "fresh" (up): 1 of 2, majority needs 2.
    assert_eq!(d.verdict, Verdict::Up);
    assert_eq!((d.explanation.down, d.explanation.needed), (1, 2));
    let ignored: Vec<&Ignored> = d.explanation.ignored.iter().map(|(_, w)| w).collect();
    assert_eq!(
        ignored,
        [
            &Ignored::Stale(Duration::from_secs(15)),
            &Ignored::Silent,
            &Ignored::Dead
        ]
    );
}

#[test]
fn a_suspect_peer_still_counts_while_its_observation_is_fresh() {
    let peers = [peer("s", Liveness::Suspect, Some((Down, 2)))];
    assert_eq!(verdict(Some(Down), &peers, Quorum::All), Verdict::Down);
}

#[test]
fn two_nodes_with_majority_need_both() {
    assert_eq!(
        verdict(Some(Down), &[alive("a", Up)], Quorum::Majority),
        Verdict::Up
    );
    assert_eq!(
        verdict(Some(Down), &[alive("a", Down)], Quorum::Majority),
        Verdict::Down
    );
}

#[test]
fn symmetric_partition_each_side_decides_alone() {
    // Four nodes cut into {self, a} and {b, c}; the target sits on the {b, c} side's network
    // and only the {self, a} side lost its path to it. Each side sees the other as dead.
    let left = [
        alive("a", Down),
        peer("b", Liveness::Dead, Some((Up, 20))),
        peer("c", Liveness::Dead, Some((Up, 20))),
    ];
    assert_eq!(verdict(Some(Down), &left, Quorum::Majority), Verdict::Down);
    let right = [
        alive("c", Up),
        peer("self", Liveness::Dead, Some((Down, 20))),
        peer("a", Liveness::Dead, Some((Down, 20))),
    ];
    assert_eq!(verdict(Some(Up), &right, Quorum::Majority), Verdict::Up);
}

#[test]
fn quorum_kinds() {
    let peers = [alive("a", Down), alive("b", Up), alive("c", Up)];
    assert_eq!(verdict(Some(Up), &peers, Quorum::Any), Verdict::Down);
    assert_eq!(verdict(Some(Down), &peers, Quorum::All), Verdict::Up);
    assert_eq!(
        verdict(Some(Down), &peers, Quorum::AtLeast(2)),
        Verdict::Down
    );
    assert_eq!(verdict(Some(Up), &peers, Quorum::AtLeast(2)), Verdict::Up);
    // N above the number of fresh observers: all of them must agree.
    let two = [alive("a", Down)];
    assert_eq!(verdict(Some(Down), &two, Quorum::AtLeast(5)), Verdict::Down);
    assert_eq!(verdict(Some(Up), &two, Quorum::AtLeast(5)), Verdict::Up);
    assert_eq!(needed(Quorum::Majority, 4), 3);
    assert_eq!(needed(Quorum::Majority, 5), 3);
    assert_eq!(needed(Quorum::AtLeast(0), 3), 1);
}

#[test]
fn without_a_result_of_its_own_a_node_follows_its_peers() {
    let d = decide(&own(None), &[alive("a", Down)], &rule(Quorum::Majority));
    assert_eq!(d.verdict, Verdict::Down);
    assert_eq!(
        d.explanation.ignored,
        [("self".to_string(), Ignored::NoResultYet)]
    );
    let d = decide(
        &own(None),
        &[peer("a", Liveness::Alive, None)],
        &rule(Quorum::Majority),
    );
    assert_eq!(
        (d.verdict, d.explanation.basis),
        (Verdict::Unknown, Basis::NoObservers)
    );
}

fn director(liveness: Liveness, quorum: ProbeState, age: u64) -> DirectorInput {
    DirectorInput {
        node: "hq-lvs".into(),
        liveness,
        quorum,
        age: Duration::from_secs(age),
    }
}

#[test]
fn a_fresh_director_report_outranks_remote_probes() {
    let peers = [alive("a", Down), alive("b", Down)];
    let dir = director(Liveness::Alive, Up, 1);
    let d = decide_vip(
        Some(&dir),
        &own(Some(Down)),
        &peers,
        &rule(Quorum::Majority),
    );
    assert_eq!(d.verdict, Verdict::Up);
    assert_eq!(d.explanation.basis, Basis::Director("hq-lvs".into()));
    assert_eq!(d.explanation.ignored.len(), 3);
    assert!(
        d.explanation
            .ignored
            .iter()
            .all(|(_, w)| *w == Ignored::Outranked)
    );
    let dir = director(Liveness::Suspect, Down, 1);
    let d = decide_vip(
        Some(&dir),
        &own(Some(Up)),
        &[alive("a", Up)],
        &rule(Quorum::Majority),
    );
    assert_eq!(d.verdict, Verdict::Down);
}

#[test]
fn a_dead_or_stale_director_falls_back_to_the_quorum() {
    let peers = [alive("a", Down), alive("b", Down)];
    for (dir, why) in [
        (director(Liveness::Dead, Up, 1), Ignored::Dead),
        (
            director(Liveness::Alive, Up, 30),
            Ignored::Stale(Duration::from_secs(30)),
        ),
    ] {
        let d = decide_vip(
            Some(&dir),
            &own(Some(Down)),
            &peers,
            &rule(Quorum::Majority),
        );
        assert_eq!(d.verdict, Verdict::Down);
        assert_eq!(d.explanation.basis, Basis::Quorum);
        assert_eq!(
            d.explanation.ignored[0],
            ("director hq-lvs".to_string(), why)
        );
    }
    let d = decide_vip(None, &own(Some(Up)), &peers, &rule(Quorum::Majority));
    assert_eq!(d.verdict, Verdict::Down);
}

#[test]
fn the_explanation_names_every_node_and_why() {
    let peers = [
        alive("dr-ns1", Down),
        peer("dr-ns2", Liveness::Alive, Some((Up, 40))),
        peer("hq-ns2", Liveness::Dead, None),
    ];
    let d = decide(&own(Some(Down)), &peers, &rule(Quorum::Majority));
    let text = d.explanation.to_string();
    for want in [
        "2 of 2 fresh observers see it down; quorum majority needs 2",
        "self: down (this node)",
        "dr-ns1: down, 1.0s old",
        "dr-ns2: ignored, stale (40.0s old, limit 15.0s)",
        "hq-ns2: ignored, dead",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
}

/// `tally` (no allocation, used for every target) agrees with `decide` (with the
/// explanation) on every mix of own state, liveness, freshness and quorum.
#[test]
fn tally_agrees_with_decide_everywhere() {
    let states = [None, Some(Up), Some(Down)];
    let lives = [Liveness::Alive, Liveness::Suspect, Liveness::Dead];
    let obs = [
        None,
        Some((Up, 1)),
        Some((Down, 1)),
        Some((Down, 20)),
        Some((Up, 15)),
    ];
    let quorums = [
        Quorum::Majority,
        Quorum::All,
        Quorum::Any,
        Quorum::AtLeast(2),
    ];
    let mut cases = 0;
    for q in quorums {
        for o in states {
            // Three peers, each one of 3 x 5 kinds: 3375 peer sets per own state and quorum.
            let kinds: Vec<(Liveness, Option<(ProbeState, u64)>)> = lives
                .iter()
                .flat_map(|l| obs.iter().map(move |ob| (*l, *ob)))
                .collect();
            for a in &kinds {
                for b in &kinds {
                    for c in &kinds {
                        let peers: Vec<PeerInput> = [a, b, c]
                            .iter()
                            .enumerate()
                            .map(|(i, (l, ob))| peer(&format!("p{i}"), *l, *ob))
                            .collect();
                        let d = decide(&own(o), &peers, &rule(q));
                        let t = tally(
                            o,
                            peers.iter().map(|p| (p.liveness, p.observation)),
                            &rule(q),
                        );
                        assert_eq!(t.verdict, d.verdict, "{o:?} {peers:?} {q:?}");
                        assert_eq!(t.by_quorum, d.explanation.basis == Basis::Quorum);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 4 * 3 * 3375);
}
