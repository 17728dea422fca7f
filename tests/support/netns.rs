//! Network namespaces for multi-node tests: a hub namespace holding a bridge, and hosts (each
//! its own namespace, joined to the bridge by a veth pair, one IPv4 address on 10.77.0.0/24).
//! Nothing is created in the root namespace but the namespaces' names; everything is removed
//! when the [`Lab`] is dropped, also when the test panics. Namespaces left behind by a run that
//! was killed (their process no longer exists) are removed by the next run.
//!
//! Code runs inside a host's namespace by [`Host::enter`]: a short-lived thread that joins the
//! namespace with `setns(2)` (the network namespace is per thread); sockets it creates stay in
//! that namespace, so the caller may use them from any thread.

#![allow(dead_code)] // not every test binary uses every helper

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Names start with this, then the test process's pid, so stale ones can be found.
const PREFIX: &str = "mrd";

/// Runs `ip ARGS`, panicking with its output when it fails (a missing `ip` fails loudly).
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (install iproute2): {e}"));
    assert!(
        out.status.success(),
        "ip {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes namespaces whose creating process is gone (a run that was killed).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for line in text.lines().take(10_000) {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _status = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// One test's network: a hub namespace with bridge `br0`, and the hosts on it.
pub struct Lab {
    tag: String,
    hub: String,
    hosts: Vec<String>,
}

impl Lab {
    /// `tag` tells apart several labs of one test process (a few letters).
    pub fn new(tag: &str) -> Lab {
        assert!(
            is_root(),
            "network namespace tests need root (CI runs as root)"
        );
        remove_stale();
        let tag = format!("{PREFIX}{}{tag}", std::process::id());
        let hub = format!("{tag}-hub");
        ip(&["netns", "add", &hub]);
        let lab = Lab {
            tag,
            hub,
            hosts: Vec::new(),
        };
        ip(&["-n", &lab.hub, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lab.hub, "link", "set", "br0", "up"]);
        lab
    }

    /// A new host `name` (a few letters) with address 10.77.0.`n`/24 on the bridge.
    pub fn host(&mut self, name: &str, n: u8) -> Host {
        let ns = format!("{}-{name}", self.tag);
        ip(&["netns", "add", &ns]);
        self.hosts.push(ns.clone());
        let veth = format!("v{name}");
        ip(&[
            "-n", &self.hub, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns",
            &ns,
        ]);
        ip(&["-n", &self.hub, "link", "set", &veth, "master", "br0", "up"]);
        let addr = Ipv4Addr::new(10, 77, 0, n);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        // The gossip transport encodes through sockets on 127.0.0.1.
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        Host {
            ns,
            name: name.to_string(),
            addr,
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of each veth pair, and with it the other end.
        for ns in self.hosts.iter().chain(std::iter::once(&self.hub)) {
            let _status = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn is_root() -> bool {
    // /proc/self/status: "Uid: real effective saved fs"
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// A host: a namespace with one address on the lab's bridge.
#[derive(Clone, Debug)]
pub struct Host {
    pub ns: String,
    pub name: String,
    pub addr: Ipv4Addr,
}

impl Host {
    /// Runs `f` on a thread inside this host's network namespace.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let path = format!("/run/netns/{}", self.ns);
                let file =
                    std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                // SAFETY: setns only reads the descriptor, which `file` keeps open; it changes
                // the namespace of this thread alone, which ends when `f` returns.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// `ip -n NS ARGS` (routes, neighbours, links of this host).
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// A command run inside this host's namespace (`ip netns exec`, which execs it: the
    /// child's pid is the program's own).
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// One HTTP GET from this host; the body.
    pub fn http_get(&self, to: SocketAddr, path: &str) -> Result<String, String> {
        let mut s = self
            .enter(|| TcpStream::connect_timeout(&to, Duration::from_secs(2)))
            .map_err(|e| format!("connect {to}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut text = String::new();
        s.read_to_string(&mut text)
            .map_err(|e| format!("read {to}{path}: {e}"))?;
        match text.split_once("\r\n\r\n") {
            Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
            _ => Err(format!("{to}{path}: {text}")),
        }
    }
}

/// A TCP listener inside a host that accepts and closes until stopped; stopping closes the
/// listening socket, so connects are refused.
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start(host: &Host, port: u16) -> Listener {
        let addr = SocketAddr::from((host.addr, port));
        let l = host
            .enter(|| TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("bind {addr} in {}: {e}", host.ns));
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                match l.accept() {
                    Ok((c, _)) => drop(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Listener {
            stop,
            thread: Some(thread),
        }
    }

    /// Close the listening socket (returns once it is closed).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _joined = t.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.halt();
    }
}
