//! Network namespaces, BIRD daemons and Meridian processes for the anycast tests (the cluster
//! tests' multi-host lab is `netns.rs`); each is
//! removed or killed on drop. A missing tool (ip, bird, birdc) fails the test loudly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Panics with the command's output unless it succeeded.
pub fn run(args: &[&str]) -> String {
    let out = output(args);
    assert!(
        out.status.success(),
        "`{}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn output(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{}` (is it installed? scripts/test-all.sh installs it): {e}",
                args[0]
            )
        })
}

/// Fails unless every tool is on PATH.
pub fn require(tools: &[&str]) {
    for t in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
            .unwrap_or(false)
            || Path::new("/usr/sbin").join(t).is_file();
        assert!(
            found,
            "`{t}` is not installed: run scripts/test-all.sh (Debian bird2, exabgp, iproute2)"
        );
    }
}

/// A network namespace, deleted (with its interfaces) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("mac-{tag}-{}-{seq}", std::process::id());
        let _ = output(&["ip", "netns", "del", &name]);
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        run(&v)
    }

    /// `ip netns exec NAME ARGS`.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        output(&v)
    }

    pub fn sysctl(&self, kv: &str) {
        let out = self.exec(&["sysctl", "-qw", kv]);
        assert!(
            out.status.success(),
            "sysctl {kv}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A command inside the namespace, for a long-running child.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = output(&["ip", "netns", "del", &self.name]);
    }
}

/// A veth pair from `a` (name `a_if`, address `a_addr`) to `b`.
pub fn veth(a: &Netns, a_if: &str, a_addr: &str, b: &Netns, b_if: &str, b_addr: &str) {
    run(&[
        "ip", "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]);
    a.ip(&["addr", "add", a_addr, "dev", a_if]);
    b.ip(&["addr", "add", b_addr, "dev", b_if]);
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}

/// A BIRD daemon in a namespace, with its own control socket.
pub struct Bird {
    pub ns_name: String,
    pub socket: PathBuf,
    pid_file: PathBuf,
}

impl Bird {
    pub fn start(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Bird {
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf).unwrap();
        let socket = dir.join(format!("{name}.ctl"));
        let pid_file = dir.join(format!("{name}.pid"));
        let out = ns.exec(&[
            "bird",
            "-c",
            conf_path.to_str().unwrap(),
            "-s",
            socket.to_str().unwrap(),
            "-P",
            pid_file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "bird {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Bird {
            ns_name: ns.name.clone(),
            socket,
            pid_file,
        }
    }

    /// `birdc -s SOCKET ARGS` (inside the namespace).
    pub fn birdc(&self, args: &[&str]) -> String {
        let mut v = vec![
            "ip",
            "netns",
            "exec",
            &self.ns_name,
            "birdc",
            "-s",
            self.socket.to_str().unwrap(),
        ];
        v.extend_from_slice(args);
        run(&v)
    }

    /// The router's view of a prefix: one entry per path (`show route for P all`).
    pub fn paths(&self, prefix: &str) -> Vec<String> {
        let out = output(&[
            "ip",
            "netns",
            "exec",
            &self.ns_name,
            "birdc",
            "-s",
            self.socket.to_str().unwrap(),
            "show",
            "route",
            "for",
            prefix,
            "all",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("Network not found") {
            return Vec::new();
        }
        assert!(out.status.success(), "birdc show route: {text}");
        let mut paths: Vec<String> = Vec::new();
        for line in text.lines().skip(1) {
            if line.contains(" unicast ") || line.trim_start().starts_with("unicast ") {
                paths.push(line.to_string());
            } else if let Some(last) = paths.last_mut() {
                last.push('\n');
                last.push_str(line);
            }
        }
        paths
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = output(&["kill", "-9", pid.trim()]);
        }
    }
}

/// Meridian running inside a namespace; killed on drop.
pub struct Meridian {
    pub child: Child,
    pub ns_name: String,
    pub log: PathBuf,
}

impl Meridian {
    pub fn start(ns: &Netns, config: &Path, log: &Path) -> Meridian {
        let bin = std::env::var("MERIDIAN_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_meridian").to_string());
        let f = std::fs::File::create(log).unwrap();
        let child = ns
            .command(&bin)
            .args(["serve", "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .unwrap();
        Meridian {
            child,
            ns_name: ns.name.clone(),
            log: log.to_path_buf(),
        }
    }

    /// The pid of meridian itself (the child is `ip netns exec`, which execs it).
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub fn signal(&self, sig: &str) {
        run(&["kill", &format!("-{sig}"), &self.pid()]);
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Meridian {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns the time it took.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what}: not within {limit:?}");
}
