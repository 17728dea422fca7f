//! Anycast through ExaBGP's process API: ExaBGP in a node namespace runs Meridian as its
//! process and peers with a BIRD "router" namespace whose `birdc show route` is the oracle.
//! When Meridian is killed, ExaBGP 4.2 respawns it; the new process withdraws the prefix at
//! its first evaluation (start grace period) and announces it again once healthy.

#![allow(clippy::disallowed_methods)] // a test harness waits on wall time

#[path = "support/bgp_lab.rs"]
mod netns;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use netns::{Bird, Netns, require, run, veth, wait_for};

const PREFIX: &str = "192.0.2.53/32";
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

fn absent(router: &Bird) -> bool {
    router.paths(PREFIX).is_empty()
}

#[test]
fn exabgp_process_api_announces_demotes_withdraws_and_dies_with_meridian() {
    require(&["ip", "bird", "birdc", "exabgp"]);
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
    node.ip(&["addr", "add", &format!("{LISTEN}/32"), "dev", "lo"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let router = Bird::start(
        &router_ns,
        d,
        "router",
        "router id 10.53.0.1;\nprotocol device { scan time 10; }\n\
         protocol bgp node1 { local 10.53.1.1 as 65000; neighbor 10.53.1.2 as 65001; \
         ipv4 { import all; export none; }; }\n",
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
grace = "1s"
drain = "1s"

[[anycast.prefix]]
prefix = "{PREFIX}"
when = ["dns"]
rise = 2
fall = 3
interval = "300ms"
demote = {{ med = 200 }}
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
             local-as 65001;\n  peer-as 65000;\n  api {{ processes [ meridian ]; }}\n}}\n",
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
    // ExaBGP acknowledged every command: the status shows the route confirmed, no error.
    let status = wait_for(Duration::from_secs(5), "confirmed announcement", || {
        let out = node.exec(&[&bin, "status", "--json", "--config", cfg.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let p = &v["anycast"]["prefixes"][0];
        p["applied"] == "announced" && p["error"].is_null()
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
    wait_for(limit, "withdrawal after the DNS failure", || {
        absent(&router)
    });
    println!(
        "TIMING ExaBGP DNS failure: demoted after {} ms, withdrawn after {} ms",
        td.as_millis(),
        t0.elapsed().as_millis()
    );
    node.ip(&["addr", "add", &format!("{LISTEN}/32"), "dev", "lo"]);
    wait_for(Duration::from_secs(5), "re-announcement", || {
        present(&router, false)
    });

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

    // kill -9 of Meridian: ExaBGP (api.terminate) exits, the session and the route go.
    let pids = run(&["pgrep", "-f", &format!("serve --config {}", cfg.display())]);
    let pid = pids
        .lines()
        .next()
        .expect("Meridian's pid")
        .trim()
        .to_string();
    run(&["kill", "-9", &pid]);
    let t0 = Instant::now();
    wait_for(
        Duration::from_secs(10),
        "withdrawal after kill -9 of Meridian (by the respawned process)",
        || absent(&router),
    );
    println!(
        "TIMING ExaBGP kill -9 of Meridian: withdrawn after {} ms",
        t0.elapsed().as_millis()
    );
    // ExaBGP 4.2 respawns its process: the new Meridian withdraws during its grace period
    // and announces again once healthy (docs/anycast.md, "ExaBGP").
    let t = wait_for(
        Duration::from_secs(10),
        "re-announcement by the respawned Meridian",
        || present(&router, false),
    );
    println!(
        "TIMING ExaBGP: respawned Meridian announced again after {} ms",
        t.as_millis()
    );
    assert!(
        exa_log().matches("serving").count() >= 2,
        "ExaBGP respawned Meridian"
    );
    drop(exa);
}
