//! Anycast through ExaBGP's process API: ExaBGP in a node namespace runs Meridian as its
//! process and peers with a BIRD "router" namespace whose `birdc show route` is the oracle.
//! Meridian's relay child (`meridian exabgp-relay`) withdraws when Meridian hangs (SIGSTOP)
//! or dies (kill -9); ExaBGP 4.2 then respawns a dead Meridian, which announces again once
//! healthy. SIGTERM: demoted, then withdrawn, DNS answered until the drain ends, then exit.

#![allow(clippy::disallowed_methods)] // a test harness waits on wall time

#[path = "support/bgp_lab.rs"]
mod netns;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use netns::{Bird, Netns, require, run, veth, wait_for};

const PREFIX: &str = "192.0.2.53/32";
const PREFIX6: &str = "2001:db8:53::/48";
const LISTEN: &str = "10.53.9.1";

struct Exabgp(Child);

impl Drop for Exabgp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn present(router: &Bird, med: bool) -> bool {
    router
        .paths(PREFIX)
        .iter()
        .any(|p| p.contains("via 10.53.1.2") && p.contains("BGP.med: 200") == med)
}

/// The IPv6 prefix, over the IPv6 session, next hop the node's address there.
fn present6(router: &Bird) -> bool {
    router
        .paths(PREFIX6)
        .iter()
        .any(|p| p.contains("via fd53:1::2"))
}

/// Neither prefix at the router.
fn absent(router: &Bird) -> bool {
    router.paths(PREFIX).is_empty() && router.paths(PREFIX6).is_empty()
}

#[test]
fn exabgp_process_api_announces_demotes_withdraws_and_dies_with_meridian() {
    require(&["ip", "bird", "birdc", "exabgp", "dig", "pgrep"]);
    let router_ns = Netns::new("xr");
    let node = Netns::new("xn");
    veth(
        &router_ns,
        "r1",
        "10.53.1.1/30",
        &node,
        "up0",
        "10.53.1.2/30",
    );
    // IPv6 on the same link: a second BGP session for the IPv6 prefix (nodad: usable now).
    router_ns.ip(&["addr", "add", "fd53:1::1/64", "dev", "r1", "nodad"]);
    node.ip(&["addr", "add", "fd53:1::2/64", "dev", "up0", "nodad"]);
    node.ip(&["addr", "add", &format!("{LISTEN}/32"), "dev", "lo"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let router = Bird::start(
        &router_ns,
        d,
        "router",
        "router id 10.53.0.1;\nprotocol device { scan time 10; }\n\
         protocol bgp node1 { local 10.53.1.1 as 65000; neighbor 10.53.1.2 as 65001; \
         ipv4 { import all; export none; }; }\n\
         protocol bgp node1v6 { local fd53:1::1 as 65000; neighbor fd53:1::2 as 65001; \
         ipv6 { import all; export none; }; }\n",
    );
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let cfg = d.join("meridian.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[server]
listen = ["{LISTEN}:53"]
zones = "{zones}"
admin = "127.0.0.1:8053"
admin_token_file = "{dir}/token"

[anycast]
backend = "exabgp"
exabgp_watchdog = "1s"
grace = "1s"
drain = "2s"

[[anycast.prefix]]
prefix = "{PREFIX}"
when = ["dns"]
rise = 2
fall = 3
interval = "300ms"
demote = {{ med = 200 }}
disable_file = "{dir}/maintenance"

[[anycast.prefix]]
prefix = "{PREFIX6}"
when = ["dns"]
rise = 2
fall = 3
interval = "300ms"
disable_file = "{dir}/maintenance"
"#,
            zones = zones.display(),
            dir = d.display()
        ),
    )
    .unwrap();
    let bin = std::env::var("MERIDIAN_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_meridian").to_string());
    let exa_conf = d.join("exabgp.conf");
    std::fs::write(
        &exa_conf,
        format!(
            "process meridian {{\n  run {bin} serve --config {cfg};\n  encoder text;\n}}\n\
             neighbor 10.53.1.1 {{\n  router-id 10.53.1.2;\n  local-address 10.53.1.2;\n  \
             local-as 65001;\n  peer-as 65000;\n  family {{ ipv4 unicast; }}\n  \
             api {{ processes [ meridian ]; }}\n}}\n\
             neighbor fd53:1::1 {{\n  router-id 10.53.1.2;\n  local-address fd53:1::2;\n  \
             local-as 65001;\n  peer-as 65000;\n  family {{ ipv6 unicast; }}\n  \
             api {{ processes [ meridian ]; }}\n}}\n",
            cfg = cfg.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(d.join("exabgp.log")).unwrap();
    let exa = Exabgp(
        node.command("exabgp")
            .arg(&exa_conf)
            .env("exabgp_daemon_user", "root")
            .env("exabgp_daemon_drop", "false")
            .env("exabgp_api_cli", "false")
            .env("exabgp_api_ack", "true")
            .env("exabgp_log_destination", "stderr")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let exa_log = || std::fs::read_to_string(d.join("exabgp.log")).unwrap_or_default();
    let t = wait_for(
        Duration::from_secs(30),
        "announcement through ExaBGP",
        || present(&router, false),
    );
    println!(
        "TIMING ExaBGP: first announcement seen by the router after {} ms",
        t.as_millis()
    );
    let t = wait_for(
        Duration::from_secs(10),
        "IPv6 announcement through ExaBGP",
        || present6(&router),
    );
    println!(
        "TIMING ExaBGP: IPv6 prefix at the router {} ms after the IPv4 one",
        t.as_millis()
    );
    // ExaBGP acknowledged every command: the status shows the route confirmed, no error.
    let status = wait_for(Duration::from_secs(5), "confirmed announcement", || {
        let out = node.exec(&[&bin, "status", "--json", "--config", cfg.to_str().unwrap()]);
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
        &bin,
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
        present(&router, true)
    });
    let td = t0.elapsed();
    wait_for(limit, "IPv6 withdrawal after the DNS failure", || {
        router.paths(PREFIX6).is_empty()
    });
    let t6 = t0.elapsed();
    wait_for(limit, "withdrawal after the DNS failure", || {
        absent(&router)
    });
    println!(
        "TIMING ExaBGP DNS failure: demoted after {} ms, withdrawn after {} ms (IPv6 prefix: {} ms)",
        td.as_millis(),
        t0.elapsed().as_millis(),
        t6.as_millis()
    );
    node.ip(&["addr", "add", &format!("{LISTEN}/32"), "dev", "lo"]);
    let t0 = Instant::now();
    wait_for(Duration::from_secs(5), "re-announcement", || {
        present(&router, false) && present6(&router)
    });
    println!(
        "TIMING ExaBGP recovery: both prefixes announced again after {} ms (rise 2 x 300 ms)",
        t0.elapsed().as_millis()
    );

    std::fs::write(d.join("maintenance"), "").unwrap();
    let t = wait_for(limit, "withdrawal by the maintenance file", || {
        absent(&router)
    });
    println!(
        "TIMING ExaBGP maintenance file: withdrawn after {} ms",
        t.as_millis()
    );
    std::fs::remove_file(d.join("maintenance")).unwrap();
    wait_for(
        Duration::from_secs(5),
        "re-announcement after maintenance",
        || present(&router, false),
    );

    // A hung Meridian (SIGSTOP): its heartbeats stop, the relay withdraws within the
    // watchdog (1 s); SIGCONT: the relay restores the announcement at the first heartbeat.
    let pid = meridian_pid(&cfg);
    let relay = relay_pid(&pid);
    run(&["kill", "-STOP", &pid]);
    let t0 = Instant::now();
    let t = wait_for(
        Duration::from_millis(1000 + 1000),
        "withdrawal of a hung Meridian (relay watchdog 1 s)",
        || absent(&router),
    );
    println!(
        "TIMING ExaBGP SIGSTOP: withdrawn after {} ms (watchdog 1 s)",
        t.as_millis()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(absent(&router), "still withdrawn while Meridian is stopped");
    run(&["kill", "-CONT", &pid]);
    let t = wait_for(
        Duration::from_secs(3),
        "re-announcement after SIGCONT",
        || present(&router, false),
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
            let out = node.exec(&[&bin, "status", "--json", "--config", cfg.to_str().unwrap()]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let p = &v["anycast"]["prefixes"][0];
            p["applied"] == "announced" && p["error"].is_null()
        },
    );

    // kill -9 of Meridian: the relay sees its socket close, withdraws and exits; ExaBGP
    // sees its process gone and respawns it.
    run(&["kill", "-9", &pid]);
    let t0 = Instant::now();
    wait_for(
        Duration::from_secs(3),
        "withdrawal after kill -9 of Meridian (by its relay)",
        || absent(&router),
    );
    println!(
        "TIMING ExaBGP kill -9 of Meridian: withdrawn after {} ms",
        t0.elapsed().as_millis()
    );
    wait_for(Duration::from_secs(3), "the old relay exits", || {
        !Path::new(&format!("/proc/{relay}")).exists()
    });
    println!(
        "TIMING ExaBGP kill -9: the old relay exited after {} ms (it waits up to 1 s for \
         acknowledgements ExaBGP sends to the respawned process instead)",
        t0.elapsed().as_millis()
    );
    // ExaBGP 4.2 respawns its process: the new Meridian withdraws during its grace period
    // and announces again once healthy (docs/anycast.md, "ExaBGP").
    wait_for(
        Duration::from_secs(10),
        "re-announcement by the respawned Meridian",
        || present(&router, false),
    );
    println!(
        "TIMING ExaBGP: respawned Meridian announced again {} ms after the kill (grace 1 s)",
        t0.elapsed().as_millis()
    );
    assert!(
        exa_log().matches("serving").count() >= 2,
        "ExaBGP respawned Meridian"
    );

    // SIGTERM: demoted at once, withdrawn at half the drain (2 s), DNS answered until the
    // drain ends, then the process exits (and ExaBGP respawns it).
    let pid = meridian_pid(&cfg);
    wait_for(
        Duration::from_secs(5),
        "the respawned Meridian's relay",
        || relay_pids(&pid).len() == 1,
    );
    run(&["kill", "-TERM", &pid]);
    let t0 = Instant::now();
    wait_for(Duration::from_secs(1), "demotion at SIGTERM", || {
        present(&router, true)
    });
    let td = t0.elapsed();
    assert!(dig_ok(&node), "DNS answers during the drain");
    wait_for(
        Duration::from_secs(2),
        "withdrawal during the drain",
        || absent(&router),
    );
    let tw = t0.elapsed();
    assert!(
        dig_ok(&node),
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
    drop(exa);
}

fn meridian_pid(cfg: &Path) -> String {
    let pids = run(&["pgrep", "-f", &format!("serve --config {}", cfg.display())]);
    let pids: Vec<&str> = pids.lines().map(str::trim).collect();
    assert_eq!(pids.len(), 1, "one Meridian: {pids:?}");
    pids[0].to_string()
}

/// The relays Meridian `pid` started.
fn relay_pids(pid: &str) -> Vec<String> {
    let out = netns::output(&["pgrep", "-P", pid, "-f", "exabgp-relay"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

fn relay_pid(pid: &str) -> String {
    let r = relay_pids(pid);
    assert_eq!(r.len(), 1, "one relay under Meridian {pid}: {r:?}");
    r[0].clone()
}

fn dig_ok(node: &Netns) -> bool {
    let out = node.exec(&[
        "dig",
        "+short",
        "+time=1",
        "+tries=1",
        &format!("@{LISTEN}"),
        "example.test",
        "SOA",
    ]);
    out.status.success() && !out.stdout.is_empty()
}
