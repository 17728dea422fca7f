//! Anycast with real BGP in network namespaces the test makes: each node namespace runs
//! BIRD (the operator's static protocols, BFD on a veth pair for fate-sharing, an IPv6
//! prefix over its own session) and Meridian;
//! a "router" namespace runs BIRD peering with every node over a veth pair, and its
//! `birdc show route` is the oracle. Timings are printed (docs/anycast.md quotes them).

#![allow(clippy::disallowed_methods)] // a test harness waits on wall time

#[path = "support/anycast_node.rs"]
mod anycast_node;
#[path = "support/bgp_lab.rs"]
mod netns;

use std::time::{Duration, Instant};

use anycast_node::*;
use netns::{Bird, Netns, require, wait_for};

#[test]
fn bird_backend_announces_demotes_withdraws_and_shares_fate() {
    require(&["ip", "bird", "birdc", "dig"]);
    let router_ns = Netns::new("r");
    let rdir = tempfile::tempdir().unwrap();
    // The router's interfaces first, so its BGP protocols find them.
    let mut node = Node::new(1, &router_ns);
    let router = Bird::start(&router_ns, rdir.path(), "router", &router_conf(1));
    let limit = Duration::from_millis(FALL * INTERVAL_MS + 1000);

    let t = wait_for(Duration::from_secs(20), "first announcement", || {
        announced_plain(&router, &node)
    });
    println!(
        "TIMING first announcement seen by the router after {} ms (grace 1 s)",
        ms(t)
    );
    wait_for(Duration::from_secs(10), "IPv6 announcement", || {
        announced6(&router, &node)
    });
    let s = node.status();
    let p = &s["anycast"]["prefixes"][0];
    assert_eq!(p["state"], "announced", "{s}");
    assert_eq!(s["anycast"]["prefixes"][1]["state"], "announced", "{s}");
    assert_eq!(p["conditions"][0]["condition"], "dns");
    let bfd = &s["anycast"]["bfd"];
    assert_eq!(bfd["up"], 1, "BFD session with BIRD: {s}");

    // The local DNS service fails: demoted first, withdrawn within fall × interval + 1 s.
    node.ns
        .ip(&["addr", "del", &format!("{LISTEN}/32"), "dev", "lo"]);
    let t0 = Instant::now();
    wait_for(limit, "demotion after the DNS failure", || {
        demoted(&router, &node)
    });
    let td = t0.elapsed();
    wait_for(limit, "withdrawal after the DNS failure", || {
        absent(&router, &node)
    });
    wait_for(limit, "IPv6 withdrawal after the DNS failure", || {
        !announced6(&router, &node)
    });
    let tw = t0.elapsed();
    assert!(tw <= limit, "withdrawn after {tw:?}");
    println!(
        "TIMING DNS failure: demoted after {} ms, withdrawn after {} ms (limit {} ms)",
        ms(td),
        ms(tw),
        ms(limit)
    );
    let s = node.status();
    let why = s["anycast"]["prefixes"][0]["why"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("dns: 10.53.9.1:53"), "{why}");
    node.ns
        .ip(&["addr", "add", &format!("{LISTEN}/32"), "dev", "lo"]);
    let t = wait_for(
        Duration::from_secs(5),
        "re-announcement after recovery",
        || announced_plain(&router, &node),
    );
    println!(
        "TIMING recovery: re-announced after {} ms (rise 2 × {INTERVAL_MS} ms)",
        ms(t)
    );
    wait_for(Duration::from_secs(5), "IPv6 re-announcement", || {
        announced6(&router, &node)
    });

    // The maintenance file withdraws; its removal restores.
    let maint = node.dir.path().join("maintenance");
    std::fs::write(&maint, "").unwrap();
    let t = wait_for(limit, "withdrawal by the maintenance file", || {
        absent(&router, &node)
    });
    println!("TIMING maintenance file: withdrawn after {} ms", ms(t));
    let s = node.status();
    assert!(
        s["anycast"]["prefixes"][0]["why"]
            .as_str()
            .unwrap()
            .contains("maintenance file"),
        "{s}"
    );
    std::fs::remove_file(&maint).unwrap();
    wait_for(
        Duration::from_secs(5),
        "re-announcement after maintenance",
        || announced_plain(&router, &node),
    );

    // A hung Meridian (SIGSTOP): BFD goes silent, BIRD drops the route.
    node.meridian().signal("STOP");
    let t = wait_for(
        Duration::from_secs(3),
        "withdrawal of a hung Meridian",
        || absent(&router, &node),
    );
    println!(
        "TIMING SIGSTOP: withdrawn after {} ms (BFD 3 × 100 ms)",
        ms(t)
    );
    node.meridian().signal("CONT");
    wait_for(
        Duration::from_secs(5),
        "re-announcement after SIGCONT",
        || announced_plain(&router, &node),
    );

    // kill -9: the same.
    node.meridian().signal("KILL");
    let t = wait_for(Duration::from_secs(3), "withdrawal after kill -9", || {
        absent(&router, &node)
    });
    println!("TIMING kill -9: withdrawn after {} ms", ms(t));
    let enabled = node.bird.birdc(&["show", "protocols", "anycast_dns"]);
    assert!(
        enabled.contains(" up "),
        "the static protocol stays enabled, only BFD withdrew: {enabled}"
    );

    // SIGTERM: demoted at once, withdrawn after half the drain, DNS answered until the end.
    node.start();
    wait_for(
        Duration::from_secs(20),
        "announcement after restart",
        || announced_plain(&router, &node),
    );
    node.meridian().signal("TERM");
    let t0 = Instant::now();
    wait_for(Duration::from_secs(2), "demotion at SIGTERM", || {
        demoted(&router, &node)
    });
    let td = t0.elapsed();
    assert!(
        node.dig_ok(),
        "DNS must still answer during the drain period"
    );
    wait_for(
        Duration::from_secs(3),
        "withdrawal during the drain",
        || absent(&router, &node),
    );
    let tw = t0.elapsed();
    assert!(
        node.dig_ok(),
        "DNS must still answer after the withdrawal, until the drain ends"
    );
    let m = node.meridian.as_mut().unwrap();
    let status = loop {
        if let Some(st) = m.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "Meridian did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let te = t0.elapsed();
    assert!(status.success(), "exit {status:?}: {}", m.log_text());
    println!(
        "TIMING SIGTERM: demoted after {} ms, withdrawn after {} ms, exited after {} ms (drain 2 s)",
        ms(td),
        ms(tw),
        ms(te)
    );
    let off = node.bird.birdc(&["show", "protocols"]);
    assert!(
        off.lines()
            .filter(|l| l.starts_with("anycast_dns"))
            .all(|l| l.contains(" down ")),
        "{off}"
    );
}

#[test]
fn two_nodes_give_the_router_two_paths_and_one_goes_with_its_node() {
    require(&["ip", "bird", "birdc"]);
    let router_ns = Netns::new("r2");
    let rdir = tempfile::tempdir().unwrap();
    let mut a = Node::new(1, &router_ns);
    let b = Node::new(2, &router_ns);
    let router = Bird::start(&router_ns, rdir.path(), "router", &router_conf(2));
    wait_for(Duration::from_secs(20), "both paths", || {
        let p = router.paths(PREFIX);
        path_from(&p, &a).is_some() && path_from(&p, &b).is_some()
    });
    // ECMP in the router's kernel: one route, two next hops.
    let kernel = wait_for(Duration::from_secs(5), "multipath kernel route", || {
        let out = router_ns.exec(&["ip", "route", "show", PREFIX]);
        String::from_utf8_lossy(&out.stdout)
            .matches("nexthop via")
            .count()
            == 2
    });
    println!(
        "TIMING ECMP route in the router's kernel {} ms after both BGP paths",
        ms(kernel)
    );
    let t0 = Instant::now();
    a.meridian.as_mut().unwrap().signal("KILL");
    wait_for(Duration::from_secs(3), "node 1's path gone", || {
        absent(&router, &a)
    });
    println!(
        "TIMING two nodes: node 1 killed, its path gone after {} ms",
        ms(t0.elapsed())
    );
    assert!(
        path_from(&router.paths(PREFIX), &b).is_some(),
        "node 2 keeps announcing"
    );
    let out = router_ns.exec(&["ip", "route", "show", PREFIX]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("via 10.53.2.2") && !text.contains("10.53.1.2"),
        "{text}"
    );
    a.meridian = None;
}
