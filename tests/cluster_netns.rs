//! Several Meridian nodes as one system, each `meridian serve` in its own network namespace
//! with its own address on a bridge, real TCP targets in "site" namespaces and DNS queries from
//! a client namespace (harness: `support/netns.rs`, `support/cluster.rs`). Paths are cut with
//! routes and neighbour entries inside one namespace; nothing touches the root namespace.
//!
//! - a dead target moves every node's answers within fall x interval + gossip period + 1 s;
//!   a node that alone loses its path to a site keeps answering it (vantage quorum), and its
//!   `/status` and `explain` say why;
//! - an override set on one node applies on the others within 2 s; a node killed with SIGKILL
//!   is seen dead by the others, which keep answering; restarted without its state file and
//!   with probes that cannot finish, it takes overrides and the peers' observations from
//!   gossip;
//! - a partition heals and converges; a process with another key cannot join and changes
//!   nothing; a node with another policy is flagged divergent and answering is unaffected.
//!
//! Root is required (CI runs as root); a missing `ip` fails the test.
#![allow(clippy::disallowed_methods)] // a test harness measures wall time

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/netns.rs"]
mod netns;

use std::time::{Duration, Instant};

use cluster::{AP, DR, FALL, GOSSIP, HQ, INTERVAL, Node, RISE, Tuning, World, within};
use serde_json::Value;

/// The bound for answers to follow a target's state on every node.
fn move_bound(n: u32) -> Duration {
    INTERVAL * n + GOSSIP + Duration::from_secs(1)
}

/// A killed node must be seen dead by the others within this (measured: about 2 s).
const DEAD_BOUND: Duration = Duration::from_secs(6);

/// Waits (at most 10 s) until every node sees every other alive; prints the time.
fn joined(nodes: &[&Node]) {
    let took = within(Duration::from_secs(10), || {
        nodes.iter().all(|n| {
            nodes
                .iter()
                .filter(|p| p.name() != n.name())
                .all(|p| n.liveness_of(p.name()).as_deref() == Some("alive"))
        })
    });
    let names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
    let took = took.unwrap_or_else(|| {
        let views: Vec<Value> = nodes
            .iter()
            .map(|n| n.status()["cluster"].clone())
            .collect();
        panic!("{names:?} did not all see each other alive within 10 s: {views:#?}")
    });
    println!("{names:?}: all alive to each other after {took:?}");
}

/// The `/status` row of the target at `addr`.
fn target_row(status: &Value, addr: &str) -> Value {
    status["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["address"] == addr))
        .cloned()
        .unwrap_or_else(|| panic!("no target {addr} in {status:#}"))
}

/// The vote of `node` in a target row's first check, as (state, has an age).
fn vote(row: &Value, node: &str) -> Option<(String, bool)> {
    row["vantage"][0]["votes"]
        .as_array()?
        .iter()
        .find(|v| v["node"] == node)
        .map(|v| {
            (
                v["state"].as_str().unwrap_or("").to_string(),
                !v["age_ms"].is_null(),
            )
        })
}

/// Cuts (`op` = "add") or restores ("del") the paths between `one` and each of `others`
/// with unreachable routes on both sides; the sites stay reachable.
fn split(one: &netns::Host, others: &[netns::Host], op: &str) {
    for o in others {
        one.ip(&["route", op, "unreachable", &format!("{}/32", o.addr)]);
        o.ip(&["route", op, "unreachable", &format!("{}/32", one.addr)]);
    }
}

fn start_three(w: &mut World) -> (Node, Node, Node) {
    let t = Tuning::default();
    let mut a = w.node("a", 1, &[2, 3], &t);
    let mut b = w.node("b", 2, &[1, 3], &t);
    let mut c = w.node("c", 3, &[1, 2], &t);
    for n in [&mut a, &mut b, &mut c] {
        let took = w.start(n);
        println!("{} answers DNS {took:?} after its start", n.name());
    }
    joined(&[&a, &b, &c]);
    w.all_answer(&[&a, &b, &c], "www.c.test.", HQ, Duration::from_secs(5));
    w.all_answer(&[&a, &b, &c], "api.c.test.", AP, Duration::from_secs(5));
    (a, b, c)
}

#[test]
fn a_dead_target_moves_every_node_and_one_cut_path_moves_none() {
    let mut w = World::new("t");
    let (a, b, c) = start_three(&mut w);
    let all = [&a, &b, &c];

    // Only c loses its path to hq: its own probe fails, a and b still see hq up.
    c.host
        .ip(&["route", "add", "unreachable", &format!("{HQ}/32")]);
    let seen = within(Duration::from_secs(5), || {
        target_row(&c.status(), HQ)["probe"] == "down"
    })
    .expect("c's own probe of hq never failed: the route did not cut the path");
    println!("path cut on c: its probe of hq down after {seen:?}");
    let n = w.holds(&c, "www.c.test.", HQ, move_bound(FALL) * 2);
    println!("c kept answering hq on {n} queries while only its own path was cut");
    for x in [&a, &b] {
        assert_eq!(w.addrs(x, "www.c.test."), HQ);
    }
    let row = target_row(&c.status(), HQ);
    assert_eq!(row["state"], "up", "{row:#}");
    assert_eq!(row["source"], "vantage quorum", "{row:#}");
    assert_eq!(row["probe"], "down", "{row:#}");
    let v = &row["vantage"][0];
    assert_eq!(
        (v["down"].as_u64(), v["needed"].as_u64()),
        (Some(1), Some(2)),
        "{row:#}"
    );
    assert_eq!(vote(&row, "c"), Some(("down".into(), false)), "{row:#}");
    assert_eq!(vote(&row, "a"), Some(("up".into(), true)), "{row:#}");
    assert_eq!(vote(&row, "b"), Some(("up".into(), true)), "{row:#}");
    let out = c.cli_ok(&["explain", "--client", "10.77.0.200", "www.c.test"]);
    assert!(
        out.contains(&format!("{HQ} up (vantage quorum)")) && out.contains("[SELECTED]"),
        "{out}"
    );
    // ... and why: each node's vote.
    assert!(
        out.contains(&format!(
            "vantage tcp {HQ}:80: 1 of 3 fresh observers see it down, 2 needed: up"
        )) && out.contains("c down (this node)")
            && out.contains("a up (")
            && out.contains("b up ("),
        "{out}"
    );
    println!("explain on c:\n{out}");
    c.host
        .ip(&["route", "del", "unreachable", &format!("{HQ}/32")]);
    within(Duration::from_secs(5), || {
        target_row(&c.status(), HQ)["probe"] == "up"
    })
    .expect("c's probe of hq did not come back after the route was removed");

    // hq really dies: every node moves to dr.
    let bound = move_bound(FALL);
    w.kill_target("hq");
    let took = w.all_answer(&all, "www.c.test.", DR, bound);
    println!("hq killed: a, b, c answer dr after {took:?} (bound {bound:?})");
    for x in all {
        let row = target_row(&x.status(), HQ);
        assert_eq!(
            (row["state"].as_str(), row["source"].as_str()),
            (Some("down"), Some("vantage quorum")),
            "{}: {row:#}",
            x.name()
        );
    }
    let bound = move_bound(RISE);
    w.revive_target("hq");
    let took = w.all_answer(&all, "www.c.test.", HQ, bound);
    println!("hq back: a, b, c answer hq after {took:?} (bound {bound:?})");
}

#[test]
fn overrides_spread_and_a_killed_node_recovers_from_gossip() {
    let mut w = World::new("o");
    let (a, b, mut c) = start_three(&mut w);

    // An override given on b applies on a and c within 2 s.
    b.cli_ok(&[
        "override",
        "set",
        "site:hq",
        "down",
        "--reason",
        "maintenance",
        "--author",
        "ops",
    ]);
    let took = w.all_answer(&[&a, &b, &c], "www.c.test.", DR, Duration::from_secs(2));
    println!("override set on b: a, b, c answer dr after {took:?}");
    let list = a.cli_ok(&["override", "list"]);
    assert!(
        list.contains("site:hq")
            && list.contains("ops")
            && list.contains("maintenance")
            && list.contains('b'),
        "{list}"
    );
    let listed = &a.status()["overrides"];
    assert!(
        listed.as_array().is_some_and(|l| l
            .iter()
            .any(|o| o["target"] == "site:hq" && o["origin"] == "b")),
        "{listed:#}"
    );
    a.cli_ok(&["override", "clear", "site:hq"]);
    let took = w.all_answer(&[&a, &b, &c], "www.c.test.", HQ, Duration::from_secs(2));
    println!("override cleared on a: a, b, c answer hq after {took:?}");

    // kill -9 c: a and b see it dead and keep answering all the while.
    let t0 = Instant::now();
    c.kill9();
    let mut dead_on = [None, None];
    let mut answered = 0;
    while dead_on.iter().any(Option::is_none) {
        for (i, x) in [&a, &b].iter().enumerate() {
            assert_eq!(
                w.addrs(x, "www.c.test."),
                HQ,
                "{} stopped answering",
                x.name()
            );
            answered += 1;
            if dead_on[i].is_none() && x.liveness_of("c").as_deref() == Some("dead") {
                dead_on[i] = Some(t0.elapsed());
            }
        }
        assert!(
            t0.elapsed() < DEAD_BOUND,
            "c not dead on a and b within {DEAD_BOUND:?}: {dead_on:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "c killed: dead on a after {:?}, on b after {:?} (bound {DEAD_BOUND:?}); {answered} queries answered meanwhile",
        dead_on[0].unwrap(),
        dead_on[1].unwrap()
    );

    // While c is away: an override on a, and ap dies.
    a.cli_ok(&[
        "override",
        "set",
        "site:hq",
        "down",
        "--reason",
        "while c is away",
    ]);
    w.kill_target("ap");
    w.all_answer(&[&a, &b], "www.c.test.", DR, Duration::from_secs(2));
    w.all_answer(&[&a, &b], "api.c.test.", DR, move_bound(FALL));

    // c restarts without its state file, with probes that cannot finish for 10 s: a 30 s
    // interval, a 10 s timeout, and its path to ap silently dropped (a neighbour entry with a
    // MAC address nobody has). Alone it would answer hq and ap (unknown counts as up).
    std::fs::remove_file(&c.state_file).unwrap();
    c.write_config(&Tuning {
        interval: "30s".into(),
        timeout: "10s".into(),
        ..Tuning::default()
    });
    c.host.ip(&[
        "neigh",
        "replace",
        AP,
        "lladdr",
        "02:00:00:00:00:99",
        "nud",
        "permanent",
        "dev",
        "eth0",
    ]);
    let t0 = Instant::now();
    c.spawn();
    let limit = Duration::from_secs(8);
    let (mut www, mut api) = (None, None);
    while www.is_none() || api.is_none() {
        if www.is_none() && w.addrs(&c, "www.c.test.") == DR {
            www = Some(t0.elapsed());
        }
        if api.is_none() && w.addrs(&c, "api.c.test.") == DR {
            api = Some(t0.elapsed());
        }
        assert!(
            t0.elapsed() < limit,
            "restarted c: www {www:?} api {api:?} after {limit:?}: {:#}",
            c.status()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let row = target_row(&c.status(), AP);
    let since = t0.elapsed();
    println!(
        "c restarted: the override (www -> dr) after {:?}, ap down from the peers' probes (api -> dr) after {:?}",
        www.unwrap(),
        api.unwrap()
    );
    assert!(
        since < Duration::from_secs(10),
        "the check was too late to prove anything"
    );
    assert_eq!(
        row["probe"], "unknown",
        "c's own probe of ap finished: {row:#}"
    );
    assert_eq!(
        (row["state"].as_str(), row["source"].as_str()),
        (Some("down"), Some("vantage quorum")),
        "{row:#}"
    );
    // One peer's fresh vote is a quorum of the fresh observers c knows; the other peer may
    // still read as dead to c's new failure detector at that instant. Both votes follow.
    assert!(
        ["a", "b"]
            .iter()
            .any(|p| vote(&row, p) == Some(("down".into(), true))),
        "{row:#}"
    );
    let both = within(Duration::from_secs(5), || {
        let row = target_row(&c.status(), AP);
        ["a", "b"]
            .iter()
            .all(|p| vote(&row, p) == Some(("down".into(), true)))
    });
    assert!(
        both.is_some(),
        "c never counted both peers' votes: {:#}",
        target_row(&c.status(), AP)
    );
    let list = c.cli_ok(&["override", "list"]);
    assert!(
        list.contains("site:hq") && list.contains("while c is away"),
        "{list}"
    );
    let persisted = within(Duration::from_secs(3), || {
        std::fs::read_to_string(&c.state_file).is_ok_and(|s| s.contains("while c is away"))
    });
    assert!(
        persisted.is_some(),
        "the learned override is not in c's state file"
    );
    let peers = c.cli_ok(&["cluster"]);
    for p in ["a", "b"] {
        assert!(
            peers
                .lines()
                .any(|l| l.starts_with(&format!("{p} ")) && l.contains("alive")),
            "{peers}"
        );
    }

    // c goes away again with the override in its state file, and it is cleared meanwhile.
    // It restarts cut off from a and b, so it answers from its state file's stale command;
    // at the heal it takes the newer clear, and its stale command does not win on the others.
    c.kill9();
    b.cli_ok(&["override", "clear", "site:hq"]);
    w.all_answer(&[&a, &b], "www.c.test.", HQ, Duration::from_secs(2));
    let (ch, others) = (c.host.clone(), [a.host.clone(), b.host.clone()]);
    split(&ch, &others, "add");
    w.start(&mut c);
    w.holds(&c, "www.c.test.", DR, Duration::from_secs(1));
    split(&ch, &others, "del");
    let took = w.all_answer(&[&c], "www.c.test.", HQ, Duration::from_secs(3));
    println!(
        "c restarted cut off with a stale override in its state file: the newer clear applied {:?} after the heal",
        took[0]
    );
    for x in [&a, &b] {
        w.holds(x, "www.c.test.", HQ, Duration::from_millis(500));
    }
    let list = c.cli_ok(&["override", "list"]);
    assert!(!list.contains("site:hq"), "{list}");
}

#[test]
fn a_partition_heals_a_stranger_cannot_join_and_drift_is_flagged() {
    let mut w = World::new("p");
    let (a, b, c) = start_three(&mut w);

    // Partition: c cut off from a and b (routes both ways); every site stays reachable.
    let others = [a.host.clone(), b.host.clone()];
    let t0 = Instant::now();
    split(&c.host, &others, "add");
    let separated = within(Duration::from_secs(10), || {
        [&a, &b]
            .iter()
            .all(|x| x.liveness_of("c").as_deref() == Some("dead"))
            && ["a", "b"]
                .iter()
                .all(|p| c.liveness_of(p).as_deref() == Some("dead"))
    })
    .expect("the partition was not seen within 10 s");
    println!("partition: a, b and c see the other side dead after {separated:?}");
    // Split brain: c, alone, also loses its path to ap. Nobody can outvote its own probe, so
    // its answers move while a's and b's do not.
    c.host
        .ip(&["route", "add", "unreachable", &format!("{AP}/32")]);
    let took = w.all_answer(&[&c], "api.c.test.", DR, move_bound(FALL));
    println!(
        "c alone with its path to ap cut: c answers dr after {:?}",
        took[0]
    );
    for x in [&a, &b] {
        assert_eq!(w.addrs(x, "api.c.test."), AP, "{}", x.name());
    }
    let row = target_row(&c.status(), AP);
    assert_eq!(row["vantage"][0]["basis"], "OwnOnly", "{row:#}");
    b.cli_ok(&[
        "override",
        "set",
        "site:hq",
        "down",
        "--reason",
        "during the split",
    ]);
    let took = w.all_answer(&[&a, &b], "www.c.test.", DR, Duration::from_secs(2));
    println!("override set on b during the partition: a, b answer dr after {took:?}");
    w.holds(&c, "www.c.test.", HQ, Duration::from_secs(2));

    // Heal: c takes the override and everybody is alive again.
    let t0h = Instant::now();
    split(&c.host, &others, "del");
    w.all_answer(&[&c], "www.c.test.", DR, Duration::from_secs(5));
    let took = t0h.elapsed();
    // The majority outvotes c's cut path again (the route is still there).
    w.all_answer(&[&c], "api.c.test.", AP, Duration::from_secs(5));
    let back = t0h.elapsed();
    let row = target_row(&c.status(), AP);
    assert_eq!(
        (row["probe"].as_str(), row["source"].as_str()),
        (Some("down"), Some("vantage quorum")),
        "{row:#}"
    );
    println!("healed: c answers ap again after {back:?} though its own path is still cut",);
    c.host
        .ip(&["route", "del", "unreachable", &format!("{AP}/32")]);
    let alive = within(Duration::from_secs(10), || {
        [&a, &b]
            .iter()
            .all(|x| x.liveness_of("c").as_deref() == Some("alive"))
            && ["a", "b"]
                .iter()
                .all(|p| c.liveness_of(p).as_deref() == Some("alive"))
    })
    .map(|_| t0h.elapsed())
    .expect("not all alive again within 10 s of the heal");
    println!(
        "healed: c answers dr (the override) after {took:?}, all alive after {alive:?} (partition lasted {:?})",
        t0h - t0
    );

    // A stranger with another key: rejected, never listed, its override goes nowhere.
    let before = a.status()["cluster"]["rejected_packets"].as_u64().unwrap();
    // Its only seed is a, so every gossip round of d lands on a (with three seeds a random
    // pick reached a fewer than 3 times in 5 s in about one run in twenty).
    let mut d = w.node(
        "d",
        4,
        &[1],
        &Tuning {
            key_file: "other.key".into(),
            ..Tuning::default()
        },
    );
    w.start(&mut d);
    d.cli_ok(&["override", "set", "site:ap", "down", "--reason", "stranger"]);
    assert_eq!(w.addrs(&d, "api.c.test."), DR, "d's own override");
    let grew = within(Duration::from_secs(5), || {
        a.status()["cluster"]["rejected_packets"]
            .as_u64()
            .is_some_and(|n| n >= before + 3)
    })
    .expect("a rejected no packet of the stranger");
    println!("stranger d: a rejected 3 of its packets within {grew:?}");
    w.holds(&a, "api.c.test.", AP, Duration::from_secs(1));
    for x in [&a, &b, &c] {
        assert_eq!(w.addrs(x, "api.c.test."), AP, "{}", x.name());
        assert!(x.liveness_of("d").is_none(), "{} lists d", x.name());
        let peers = x.cli_ok(&["cluster"]);
        assert!(!peers.lines().any(|l| l.starts_with("d ")), "{peers}");
        let list = x.cli_ok(&["override", "list"]);
        assert!(!list.contains("site:ap"), "{}: {list}", x.name());
    }
    let d_peers = &d.status()["cluster"]["peers"];
    assert_eq!(d_peers.as_array().map(Vec::len), Some(0), "{d_peers:#}");
    let after = a.status()["cluster"]["rejected_packets"].as_u64().unwrap();
    println!("a: {} packets rejected while d ran", after - before);
    drop(d);
    a.cli_ok(&["override", "clear", "site:hq"]);
    w.all_answer(&[&a, &b, &c], "www.c.test.", HQ, Duration::from_secs(2));
    let before: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|x| w.answer(x, "www.c.test."))
        .collect();
    assert_eq!(before[0], Some((vec![HQ.to_string()], 30)));

    // Drift: e runs another policy (www's TTL); flagged, answers unaffected.
    let mut e = w.node(
        "e",
        5,
        &[1],
        &Tuning {
            www_ttl: 60,
            ..Tuning::default()
        },
    );
    w.start(&mut e);
    joined(&[&a, &b, &c, &e]);
    let flagged = within(Duration::from_secs(5), || {
        a.status()["cluster"]["divergent"] == serde_json::json!(["e"])
    });
    assert!(flagged.is_some(), "{:#}", a.status()["cluster"]);
    let s = a.status();
    let peers = s["cluster"]["peers"].as_array().unwrap();
    for p in peers {
        assert_eq!(p["divergent"], p["node"] == "e", "{p:#}");
    }
    let e_digest = peers.iter().find(|p| p["node"] == "e").unwrap()["digest"].clone();
    assert_ne!(e_digest, s["cluster"]["digest"]);
    let out = a.cli_ok(&["cluster"]);
    let line = |n: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no {n} in {out}"))
            .to_string()
    };
    assert!(line("e").ends_with("DIFFERS"), "{out}");
    assert!(line("b").ends_with("same"), "{out}");
    println!("meridian cluster on a:\n{out}");
    let e_view = e.status()["cluster"]["divergent"].clone();
    assert_eq!(e_view, serde_json::json!(["a", "b", "c"]), "{e_view:#}");
    let metrics = a.host.http_get(a.admin(), "/metrics").unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("meridian_cluster_peers_divergent") && l.ends_with(" 1")),
        "{metrics}"
    );
    for (x, was) in [&a, &b, &c].iter().zip(&before) {
        assert_eq!(&w.answer(x, "www.c.test."), was, "{}", x.name());
    }
    assert_eq!(
        w.answer(&e, "www.c.test."),
        Some((vec![HQ.to_string()], 60))
    );
}
