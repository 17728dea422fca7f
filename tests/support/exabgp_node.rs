//! The ExaBGP anycast lab: a router namespace running BIRD (IPv4 and IPv6 sessions), a node
//! namespace running ExaBGP with Meridian as its process, and helpers to read the router's
//! routes, Meridian's status and its relay. Everything is removed or killed on drop.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use super::netns::{Bird, Netns, run, veth};

pub const PREFIX: &str = "192.0.2.53/32";
pub const PREFIX6: &str = "2001:db8:53::/48";
/// A prefix a reload adds.
pub const PREFIX_NEW: &str = "198.51.100.53/32";
pub const LISTEN: &str = "10.53.9.1";

pub struct Exabgp(Child);

impl Drop for Exabgp {
    /// Kills ExaBGP's process group: ExaBGP, the Meridian it runs and the relay. Killing
    /// ExaBGP alone left Meridian running (it keeps serving DNS when ExaBGP goes, as
    /// documented), in a namespace the lab then deleted.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on the process group spawn() created with process_group(0).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.0.wait();
    }
}

/// One `[[anycast.prefix]]` on the DNS condition (interval 300 ms, rise 2, fall 3).
pub fn prefix_block(prefix: &str, demote: bool, dir: &Path) -> String {
    format!(
        "[[anycast.prefix]]\nprefix = \"{prefix}\"\nwhen = [\"dns\"]\nrise = 2\nfall = 3\n\
         interval = \"300ms\"\n{}disable_file = \"{}/maintenance\"\n",
        if demote {
            "demote = { med = 200 }\n"
        } else {
            ""
        },
        dir.display()
    )
}

pub fn meridian_conf(dir: &Path, watchdog: &str, prefixes: &[String]) -> String {
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    format!(
        r#"[server]
listen = ["{LISTEN}:53"]
zones = "{zones}"
admin = "127.0.0.1:8053"
admin_token_file = "{dir}/token"

[anycast]
backend = "exabgp"
exabgp_watchdog = "{watchdog}"
grace = "1s"
drain = "2s"

{prefixes}"#,
        zones = zones.display(),
        dir = dir.display(),
        prefixes = prefixes.join("\n")
    )
}

/// The lab; fields drop in order (ExaBGP and Meridian first, the namespaces last).
pub struct Lab {
    pub exa: Exabgp,
    pub router: Bird,
    pub cfg: PathBuf,
    pub bin: String,
    pub node: Netns,
    pub router_ns: Netns,
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn start() -> Lab {
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
        let cfg = d.join("meridian.toml");
        std::fs::write(
            &cfg,
            meridian_conf(
                d,
                "1s",
                &[
                    prefix_block(PREFIX, true, d),
                    prefix_block(PREFIX6, false, d),
                ],
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
                .process_group(0)
                .spawn()
                .unwrap(),
        );
        Lab {
            exa,
            router,
            cfg,
            bin,
            node,
            router_ns,
            dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("exabgp.log")).unwrap_or_default()
    }

    /// `meridian status --json` in the node namespace (null when it does not answer).
    pub fn status(&self) -> serde_json::Value {
        let out = self.node.exec(&[
            &self.bin,
            "status",
            "--json",
            "--config",
            self.cfg.to_str().unwrap(),
        ]);
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// The IPv4 prefix from this node, demoted (MED 200) or not.
    pub fn present(&self, med: bool) -> bool {
        self.router
            .paths(PREFIX)
            .iter()
            .any(|p| p.contains("via 10.53.1.2") && p.contains("BGP.med: 200") == med)
    }

    /// The IPv6 prefix, over the IPv6 session, next hop the node's address there.
    pub fn present6(&self) -> bool {
        self.router
            .paths(PREFIX6)
            .iter()
            .any(|p| p.contains("via fd53:1::2"))
    }

    pub fn has(&self, prefix: &str) -> bool {
        !self.router.paths(prefix).is_empty()
    }

    /// No prefix at all at the router.
    pub fn absent(&self) -> bool {
        [PREFIX, PREFIX6, PREFIX_NEW].iter().all(|p| !self.has(p))
    }

    pub fn meridian_pid(&self) -> String {
        meridian_pid(&self.cfg)
    }

    pub fn dig_ok(&self) -> bool {
        dig_ok(&self.node)
    }
}

pub fn meridian_pid(cfg: &Path) -> String {
    let pids = run(&["pgrep", "-f", &format!("serve --config {}", cfg.display())]);
    let pids: Vec<&str> = pids.lines().map(str::trim).collect();
    assert_eq!(pids.len(), 1, "one Meridian: {pids:?}");
    pids[0].to_string()
}

/// The relays Meridian `pid` started.
pub fn relay_pids(pid: &str) -> Vec<String> {
    let out = super::netns::output(&["pgrep", "-P", pid, "-f", "exabgp-relay"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

pub fn relay_pid(pid: &str) -> String {
    let r = relay_pids(pid);
    assert_eq!(r.len(), 1, "one relay under Meridian {pid}: {r:?}");
    r[0].clone()
}

pub fn dig_ok(node: &Netns) -> bool {
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
