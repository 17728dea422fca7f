//! Anycast through ExaBGP's process API: ExaBGP in a node namespace runs Meridian as its
//! process and peers with a BIRD "router" namespace whose `birdc show route` is the oracle.
//! Meridian's relay child (`meridian exabgp-relay`) withdraws when Meridian hangs (SIGSTOP)
//! or dies (kill -9); ExaBGP 4.2 then respawns a dead Meridian, which announces again once
//! healthy. SIGTERM: demoted, then withdrawn, DNS answered until the drain ends, then exit.

#![allow(clippy::disallowed_methods)] // a test harness waits on wall time

#[path = "support/exabgp_node.rs"]
mod exabgp_node;
#[path = "support/bgp_lab.rs"]
mod netns;

use std::path::Path;
use std::time::{Duration, Instant};

use exabgp_node::*;
use netns::{require, run, wait_for};

#[test]
fn exabgp_process_api_announces_demotes_withdraws_and_dies_with_meridian() {
    require(&["ip", "bird", "birdc", "exabgp", "dig", "pgrep"]);
    let lab = Lab::start();
    let (router, node, cfg, bin) = (&lab.router, &lab.node, &lab.cfg, &lab.bin);
    let d = lab.dir.path();
    let t = wait_for(
        Duration::from_secs(30),
        "announcement through ExaBGP",
        || lab.present(false),
    );
    println!(
        "TIMING ExaBGP: first announcement seen by the router after {} ms",
        t.as_millis()
    );
    let t = wait_for(
        Duration::from_secs(10),
        "IPv6 announcement through ExaBGP",
        || lab.present6(),
    );
    println!(
        "TIMING ExaBGP: IPv6 prefix at the router {} ms after the IPv4 one",
        t.as_millis()
    );
    // ExaBGP acknowledged every command: the status shows the route confirmed, no error.
    let status = wait_for(Duration::from_secs(5), "confirmed announcement", || {
        let out = node.exec(&[bin, "status", "--json", "--config", cfg.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let p = &v["anycast"]["prefixes"][0];
        let p6 = &v["anycast"]["prefixes"][1];
        p["applied"] == "announced"
            && p["error"].is_null()
            && p6["prefix"] == PREFIX6
            && p6["applied"] == "announced"
    });
    println!(
        "TIMING ExaBGP: acknowledged within {} ms",
        status.as_millis()
    );
    // explain shows the same prefix, state and conditions, live from the admin endpoint.
    let out = node.exec(&[
        bin,
        "explain",
        "--config",
        cfg.to_str().unwrap(),
        "--client",
        "192.0.2.9",
        "example.test",
        "SOA",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Anycast:  live from the admin endpoint 127.0.0.1:8053"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains(PREFIX)
            && l.contains("announced")
            && l.contains("why: every condition holds")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("dns") && l.ends_with(" ok")),
        "{text}"
    );

    node.ip(&["addr", "del", &format!("{LISTEN}/32"), "dev", "lo"]);
    let t0 = Instant::now();
    let limit = Duration::from_millis(3 * 300 + 1000);
    wait_for(limit, "demotion (MED 200) after the DNS failure", || {
        lab.present(true)
    });
    let td = t0.elapsed();
    wait_for(limit, "IPv6 withdrawal after the DNS failure", || {
        router.paths(PREFIX6).is_empty()
    });
    let t6 = t0.elapsed();
    wait_for(limit, "withdrawal after the DNS failure", || lab.absent());
    println!(
        "TIMING ExaBGP DNS failure: demoted after {} ms, withdrawn after {} ms (IPv6 prefix: {} ms)",
        td.as_millis(),
        t0.elapsed().as_millis(),
        t6.as_millis()
    );
    node.ip(&["addr", "add", &format!("{LISTEN}/32"), "dev", "lo"]);
    let t0 = Instant::now();
    wait_for(Duration::from_secs(5), "re-announcement", || {
        lab.present(false) && lab.present6()
    });
    println!(
        "TIMING ExaBGP recovery: both prefixes announced again after {} ms (rise 2 x 300 ms)",
        t0.elapsed().as_millis()
    );

    std::fs::write(d.join("maintenance"), "").unwrap();
    let t = wait_for(limit, "withdrawal by the maintenance file", || lab.absent());
    println!(
        "TIMING ExaBGP maintenance file: withdrawn after {} ms",
        t.as_millis()
    );
    std::fs::remove_file(d.join("maintenance")).unwrap();
    wait_for(
        Duration::from_secs(5),
        "re-announcement after maintenance",
        || lab.present(false),
    );

    // A hung Meridian (SIGSTOP): its heartbeats stop, the relay withdraws within the
    // watchdog (1 s); SIGCONT: the relay restores the announcement at the first heartbeat.
    let pid = lab.meridian_pid();
    let relay = relay_pid(&pid);
    run(&["kill", "-STOP", &pid]);
    let t0 = Instant::now();
    let t = wait_for(
        Duration::from_millis(1000 + 1000),
        "withdrawal of a hung Meridian (relay watchdog 1 s)",
        || lab.absent(),
    );
    println!(
        "TIMING ExaBGP SIGSTOP: withdrawn after {} ms (watchdog 1 s)",
        t.as_millis()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.absent(), "still withdrawn while Meridian is stopped");
    run(&["kill", "-CONT", &pid]);
    let t = wait_for(
        Duration::from_secs(3),
        "re-announcement after SIGCONT",
        || lab.present(false) && lab.present6(),
    );
    println!(
        "TIMING ExaBGP SIGCONT: announced again after {} ms (stopped {} ms)",
        t.as_millis(),
        (t0.elapsed() - t).as_millis()
    );
    // The relay matched ExaBGP's answers to its own lines: Meridian's accounting is exact.
    wait_for(
        Duration::from_secs(3),
        "no speaker error after SIGCONT",
        || {
            let out = node.exec(&[bin, "status", "--json", "--config", cfg.to_str().unwrap()]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let p = &v["anycast"]["prefixes"][0];
            p["applied"] == "announced" && p["error"].is_null()
        },
    );

    // A reload (SIGHUP) applies [anycast]: the IPv6 prefix removed from the file is
    // withdrawn, a new prefix starts withdrawn and is announced after rise passes, the IPv4
    // prefix (its fall changed) keeps its route without a flap.
    let v4 = prefix_block(PREFIX, true, d).replace("fall = 3", "fall = 2");
    let new = prefix_block(PREFIX_NEW, false, d);
    std::fs::write(cfg, meridian_conf(d, "1s", &[v4.clone(), new.clone()])).unwrap();
    run(&["kill", "-HUP", &pid]);
    let t0 = Instant::now();
    let mut flapped = false;
    wait_for(
        Duration::from_secs(3),
        "reload: IPv6 out, new prefix in",
        || {
            flapped |= !lab.present(false);
            !lab.has(PREFIX6) && lab.has(PREFIX_NEW)
        },
    );
    let t = t0.elapsed();
    assert!(
        !flapped,
        "the unchanged IPv4 prefix kept its route across the reload"
    );
    println!(
        "TIMING ExaBGP reload: removed prefix withdrawn and new one announced {} ms after SIGHUP (rise 2: at once and 300 ms later)",
        t.as_millis()
    );
    let v = lab.status();
    assert_eq!(v["anycast"]["prefixes"][1]["prefix"], PREFIX_NEW, "{v}");
    // A backend setting cannot change in place: the reload says so and keeps it all.
    std::fs::write(cfg, meridian_conf(d, "2s", &[v4, new])).unwrap();
    run(&["kill", "-HUP", &pid]);
    wait_for(Duration::from_secs(3), "the restart warning", || {
        lab.log().contains(
            "reload: [anycast] backend, bird_socket or exabgp_watchdog (the whole [anycast] table) changed; the running value stays until the next restart",
        )
    });
    assert!(lab.status()["anycast"]["backend"] == "exabgp (relay watchdog 1s)");

    // kill -9 of Meridian: the relay sees its socket close, withdraws and exits; ExaBGP
    // sees its process gone and respawns it.
    run(&["kill", "-9", &pid]);
    let t0 = Instant::now();
    wait_for(
        Duration::from_secs(3),
        "withdrawal after kill -9 of Meridian (by its relay)",
        || lab.absent(),
    );
    println!(
        "TIMING ExaBGP kill -9 of Meridian: withdrawn after {} ms",
        t0.elapsed().as_millis()
    );
    wait_for(Duration::from_secs(3), "the old relay exits", || {
        !Path::new(&format!("/proc/{relay}")).exists()
    });
    println!(
        "TIMING ExaBGP kill -9: the old relay gone from /proc after {} ms (it waits up to 1 s \
         for acknowledgements that ExaBGP sends to the respawned process instead)",
        t0.elapsed().as_millis()
    );
    // ExaBGP 4.2 respawns its process: the new Meridian withdraws during its grace period
    // and announces again once healthy (docs/anycast.md, "ExaBGP").
    wait_for(
        Duration::from_secs(10),
        "re-announcement by the respawned Meridian",
        || lab.present(false),
    );
    println!(
        "TIMING ExaBGP: respawned Meridian announced again {} ms after the kill (grace 1 s)",
        t0.elapsed().as_millis()
    );
    assert!(
        lab.log().matches("serving").count() >= 2,
        "ExaBGP respawned Meridian"
    );

    // SIGTERM: demoted at once, withdrawn at half the drain (2 s), DNS answered until the
    // drain ends, then the process exits (and ExaBGP respawns it).
    let pid = lab.meridian_pid();
    wait_for(
        Duration::from_secs(5),
        "the respawned Meridian's relay",
        || relay_pids(&pid).len() == 1,
    );
    run(&["kill", "-TERM", &pid]);
    let t0 = Instant::now();
    wait_for(Duration::from_secs(1), "demotion at SIGTERM", || {
        lab.present(true)
    });
    let td = t0.elapsed();
    assert!(lab.dig_ok(), "DNS answers during the drain");
    wait_for(
        Duration::from_secs(2),
        "withdrawal during the drain",
        || lab.absent(),
    );
    let tw = t0.elapsed();
    assert!(
        lab.dig_ok(),
        "DNS answers after the withdrawal, until the drain ends"
    );
    assert!(
        Path::new(&format!("/proc/{pid}/stat")).exists() && tw < Duration::from_secs(2),
        "withdrawn while Meridian still runs, before the drain ends ({tw:?})"
    );
    wait_for(
        Duration::from_secs(5),
        "Meridian exits after the drain",
        || {
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        },
    );
    let te = t0.elapsed();
    assert!(
        te >= Duration::from_secs(2),
        "exited only after the drain: {te:?}"
    );
    println!(
        "TIMING ExaBGP SIGTERM: demoted after {} ms, withdrawn after {} ms, exited after {} ms (drain 2 s)",
        td.as_millis(),
        tw.as_millis(),
        te.as_millis()
    );
}
