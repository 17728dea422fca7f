//! One announcing node for the BIRD anycast tests: its namespace, uplink to the router, the
//! operator's BIRD (static protocols, BFD on a veth pair) and Meridian; the BIRD
//! configurations docs/anycast.md gives.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use super::netns::{Bird, Meridian, Netns, veth};

pub const PREFIX: &str = "192.0.2.53/32";
/// The IPv6 prefix, announced over its own IPv6 BGP session (no BFD: the responder is IPv4).
pub const PREFIX6: &str = "2001:db8:53::53/128";
/// The address Meridian answers DNS on inside a node (on `lo`, removable by the test).
pub const LISTEN: &str = "10.53.9.1";
pub const INTERVAL_MS: u64 = 300;
pub const FALL: u64 = 3;

pub fn router_conf(nodes: usize) -> String {
    let mut c = String::from(
        "router id 10.53.0.1;\nprotocol device { scan time 10; }\n\
         protocol kernel { ipv4 { export all; }; merge paths yes; }\n",
    );
    for n in 1..=nodes {
        c.push_str(&format!(
            "protocol bgp node{n} {{ local 10.53.{n}.1 as 65000; neighbor 10.53.{n}.2 as 65001; \
             connect retry time 1; ipv4 {{ import all; export none; }}; }}\n\
             protocol bgp node{n}v6 {{ local fd53:{n}::1 as 65000; neighbor fd53:{n}::2 as 65001; \
             connect retry time 1; ipv6 {{ import all; export none; }}; }}\n"
        ));
    }
    c
}

/// The operator's BIRD on a node, as docs/anycast.md gives it.
pub fn node_conf(n: usize) -> String {
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
protocol static anycast_dns6 {{
  disabled;
  ipv6;
  route {PREFIX6} via fd53:ff::2%mer0;
}}
protocol bgp uplink {{
  local 10.53.{n}.2 as 65001; neighbor 10.53.{n}.1 as 65000; connect retry time 1;
  ipv4 {{ import none; export where proto = "anycast_dns" || proto = "anycast_dns_demoted"; }};
}}
protocol bgp uplink6 {{
  local fd53:{n}::2 as 65001; neighbor fd53:{n}::1 as 65000; connect retry time 1;
  ipv6 {{ import none; export where proto = "anycast_dns6"; }};
}}
"#
    )
}

pub fn meridian_conf(dir: &Path, bird_socket: &Path) -> String {
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

[[anycast.prefix]]
prefix = "{PREFIX6}"
bird_protocol = "anycast_dns6"
when = ["dns"]
rise = 2
fall = {FALL}
interval = "{INTERVAL_MS}ms"
"#,
        zones = zones.display(),
        dir = dir.display(),
        sock = bird_socket.display()
    )
}

/// One announcing node: namespace, uplink to the router, BIRD, the BFD veth pair, Meridian.
pub struct Node {
    pub ns: Netns,
    pub bird: Bird,
    pub meridian: Option<Meridian>,
    pub dir: tempfile::TempDir,
    pub n: usize,
}

impl Node {
    pub fn new(n: usize, router: &Netns) -> Node {
        let ns = Netns::new(&format!("n{n}"));
        veth(
            router,
            &format!("r{n}"),
            &format!("10.53.{n}.1/30"),
            &ns,
            "up0",
            &format!("10.53.{n}.2/30"),
        );
        // IPv6 on the uplink (no duplicate address detection: usable at once).
        router.ip(&[
            "addr",
            "add",
            &format!("fd53:{n}::1/64"),
            "dev",
            &format!("r{n}"),
            "nodad",
        ]);
        ns.ip(&[
            "addr",
            "add",
            &format!("fd53:{n}::2/64"),
            "dev",
            "up0",
            "nodad",
        ]);
        ns.ip(&[
            "link", "add", "mer0", "type", "veth", "peer", "name", "mer1",
        ]);
        ns.ip(&["addr", "add", "169.254.53.1/30", "dev", "mer0"]);
        ns.ip(&["addr", "add", "169.254.53.2/30", "dev", "mer1"]);
        ns.ip(&["addr", "add", "fd53:ff::1/64", "dev", "mer0", "nodad"]);
        ns.ip(&["addr", "add", "fd53:ff::2/64", "dev", "mer1", "nodad"]);
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

    pub fn start(&mut self) {
        let cfg = self.dir.path().join("meridian.toml");
        let runs = std::fs::read_dir(self.dir.path()).map_or(0, Iterator::count);
        let log = self.dir.path().join(format!("meridian-{runs}.log"));
        self.meridian = Some(Meridian::start(&self.ns, &cfg, &log));
    }

    pub fn meridian(&self) -> &Meridian {
        self.meridian.as_ref().unwrap()
    }

    pub fn via(&self) -> String {
        format!("via 10.53.{}.2", self.n)
    }

    /// `meridian status --json` inside the namespace.
    pub fn status(&self) -> serde_json::Value {
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

    pub fn dig_ok(&self) -> bool {
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

pub fn path_from<'a>(paths: &'a [String], node: &Node) -> Option<&'a String> {
    paths.iter().find(|p| p.contains(&node.via()))
}

pub fn announced_plain(router: &Bird, node: &Node) -> bool {
    path_from(&router.paths(PREFIX), node).is_some_and(|p| !p.contains("BGP.med: 200"))
}

pub fn demoted(router: &Bird, node: &Node) -> bool {
    path_from(&router.paths(PREFIX), node).is_some_and(|p| p.contains("BGP.med: 200"))
}

pub fn absent(router: &Bird, node: &Node) -> bool {
    path_from(&router.paths(PREFIX), node).is_none()
}

/// The IPv6 prefix's path from `node` (its session's next hop is the node's uplink address).
pub fn announced6(router: &Bird, node: &Node) -> bool {
    let via = format!("via fd53:{}::2", node.n);
    router.paths(PREFIX6).iter().any(|p| p.contains(&via))
}

pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}
