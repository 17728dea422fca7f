//! Anycast with real BGP in network namespaces the test makes: each node namespace runs
//! BIRD (the operator's static protocols, BFD on a veth pair for fate-sharing) and Meridian;
//! a "router" namespace runs BIRD peering with every node over a veth pair, and its
//! `birdc show route` is the oracle. Timings are printed (docs/anycast.md quotes them).

#![allow(clippy::disallowed_methods)] // a test harness waits on wall time

#[path = "support/netns.rs"]
mod netns;

use std::path::Path;
use std::time::{Duration, Instant};

use netns::{Bird, Meridian, Netns, require, veth, wait_for};

const PREFIX: &str = "192.0.2.53/32";
/// The address Meridian answers DNS on inside a node (on `lo`, removable by the test).
const LISTEN: &str = "10.53.9.1";
const INTERVAL_MS: u64 = 300;
const FALL: u64 = 3;

fn router_conf(nodes: usize) -> String {
    let mut c = String::from(
        "router id 10.53.0.1;\nprotocol device { scan time 10; }\n\
         protocol kernel { ipv4 { export all; }; merge paths yes; }\n",
    );
    for n in 1..=nodes {
        c.push_str(&format!(
            "protocol bgp node{n} {{ local 10.53.{n}.1 as 65000; neighbor 10.53.{n}.2 as 65001; \
             connect retry time 1; ipv4 {{ import all; export none; }}; }}\n"
        ));
    }
    c
}

/// The operator's BIRD on a node, as docs/anycast.md gives it.
fn node_conf(n: usize) -> String {
    format!(
        r#"router id 10.53.{n}.2;
protocol device {{ scan time 10; }}
protocol bfd {{ interface "mer0" {{ interval 100 ms; multiplier 3; }}; }}
protocol static anycast_dns {{
  disabled;
  ipv4;
  route {PREFIX} via 169.254.53.2%mer0 bfd;
}}
protocol static anycast_dns_demoted {{
  disabled;
  ipv4;
  route {PREFIX} via 169.254.53.2%mer0 bfd {{ bgp_med = 200; }};
}}
protocol bgp uplink {{
  local 10.53.{n}.2 as 65001; neighbor 10.53.{n}.1 as 65000; connect retry time 1;
  ipv4 {{ import none; export where proto = "anycast_dns" || proto = "anycast_dns_demoted"; }};
}}
"#
    )
}

fn meridian_conf(dir: &Path, bird_socket: &Path) -> String {
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    format!(
        r#"[server]
listen = ["{LISTEN}:53"]
zones = "{zones}"
admin = "127.0.0.1:8053"
admin_token_file = "{dir}/token"

[anycast]
backend = "bird"
bird_socket = "{sock}"
grace = "1s"
drain = "2s"
bfd_listen = "169.254.53.2"

[[anycast.prefix]]
prefix = "{PREFIX}"
bird_protocol = "anycast_dns"
when = ["dns"]
rise = 2
fall = {FALL}
interval = "{INTERVAL_MS}ms"
demote = {{ med = 200, bird_protocol = "anycast_dns_demoted" }}
disable_file = "{dir}/maintenance"
"#,
        zones = zones.display(),
        dir = dir.display(),
        sock = bird_socket.display()
    )
}

/// One announcing node: namespace, uplink to the router, BIRD, the BFD veth pair, Meridian.
struct Node {
    ns: Netns,
    bird: Bird,
    meridian: Option<Meridian>,
    dir: tempfile::TempDir,
    n: usize,
}

impl Node {
    fn new(n: usize, router: &Netns) -> Node {
        let ns = Netns::new(&format!("n{n}"));
        veth(
            router,
            &format!("r{n}"),
            &format!("10.53.{n}.1/30"),
            &ns,
            "up0",
            &format!("10.53.{n}.2/30"),
        );
        ns.ip(&[
            "link", "add", "mer0", "type", "veth", "peer", "name", "mer1",
        ]);
        ns.ip(&["addr", "add", "169.254.53.1/30", "dev", "mer0"]);
        ns.ip(&["addr", "add", "169.254.53.2/30", "dev", "mer1"]);
        ns.ip(&["link", "set", "mer0", "up"]);
        ns.ip(&["link", "set", "mer1", "up"]);
        // BIRD's BFD packets reach Meridian's end through the veth with a local source.
        ns.sysctl("net.ipv4.conf.mer1.accept_local=1");
        ns.sysctl("net.ipv4.conf.all.rp_filter=0");
        ns.sysctl("net.ipv4.conf.mer1.rp_filter=0");
        ns.ip(&["addr", "add", &format!("{LISTEN}/32"), "dev", "lo"]);
        let dir = tempfile::tempdir().unwrap();
        let bird = Bird::start(&ns, dir.path(), "bird", &node_conf(n));
        let cfg = dir.path().join("meridian.toml");
        std::fs::write(&cfg, meridian_conf(dir.path(), &bird.socket)).unwrap();
        let mut node = Node {
            ns,
            bird,
            meridian: None,
            dir,
            n,
        };
        node.start();
        node
    }

    fn start(&mut self) {
        let cfg = self.dir.path().join("meridian.toml");
        let runs = std::fs::read_dir(self.dir.path()).map_or(0, Iterator::count);
        let log = self.dir.path().join(format!("meridian-{runs}.log"));
        self.meridian = Some(Meridian::start(&self.ns, &cfg, &log));
    }

    fn meridian(&self) -> &Meridian {
        self.meridian.as_ref().unwrap()
    }

    fn via(&self) -> String {
        format!("via 10.53.{}.2", self.n)
    }

    /// `meridian status --json` inside the namespace.
    fn status(&self) -> serde_json::Value {
        let bin = std::env::var("MERIDIAN_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_meridian").to_string());
        let cfg = self.dir.path().join("meridian.toml");
        let out = self
            .ns
            .exec(&[&bin, "status", "--json", "--config", cfg.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "meridian status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn dig_ok(&self) -> bool {
        let out = self.ns.exec(&[
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
}

fn path_from<'a>(paths: &'a [String], node: &Node) -> Option<&'a String> {
    paths.iter().find(|p| p.contains(&node.via()))
}

fn announced_plain(router: &Bird, node: &Node) -> bool {
    path_from(&router.paths(PREFIX), node).is_some_and(|p| !p.contains("BGP.med: 200"))
}

fn demoted(router: &Bird, node: &Node) -> bool {
    path_from(&router.paths(PREFIX), node).is_some_and(|p| p.contains("BGP.med: 200"))
}

fn absent(router: &Bird, node: &Node) -> bool {
    path_from(&router.paths(PREFIX), node).is_none()
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

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
    let s = node.status();
    let p = &s["anycast"]["prefixes"][0];
    assert_eq!(p["state"], "announced", "{s}");
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
