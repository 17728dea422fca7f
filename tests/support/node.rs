//! One `meridian serve` process for the operations tests (systemd notification, identity,
//! logs): a temporary folder with a zone and a policy file, a free loopback port, standard
//! error captured to a file, and the process killed on drop.

#![allow(dead_code)] // not every test binary uses every helper
#![allow(clippy::disallowed_methods)] // a test harness measures wall time

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test (`MERIDIAN_BIN` overrides the one cargo built).
pub fn bin() -> PathBuf {
    std::env::var_os("MERIDIAN_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_meridian")))
}

/// The zone every node serves.
pub const ZONE: &str = "$TTL 60\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n\
                        ns1 A 192.0.2.53\nwww A 192.0.2.80\n";

/// A policy file in a temporary folder, listening on a free port of 127.0.0.1.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl Site {
    /// `extra` goes into `[server]` after `listen` and `zones`; `tail` after it.
    pub fn new(extra: &str, tail: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("example.test.zone"), ZONE).unwrap();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let port = crate::dnsclient::free_port(&[ip]);
        let site = Site {
            dir,
            addr: SocketAddr::new(ip, port),
        };
        site.write_config(extra, tail);
        site
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("meridian.toml")
    }

    pub fn write_config(&self, extra: &str, tail: &str) {
        let text = format!(
            "[server]\nlisten = [\"{}\"]\nzones = \"example.test.zone\"\n{extra}\n{tail}",
            self.addr
        );
        std::fs::write(self.config(), text).unwrap();
    }

    /// Starts `meridian serve` with `env` added; standard error goes to `stderr.log`.
    pub fn start(&self, env: &[(&str, &Path)]) -> Node {
        self.start_wrapped(&[], env)
    }

    /// [`Site::start`] under a wrapper program (`strace -f ...`) that runs meridian as its
    /// only child: signals go to meridian, the wait is for the wrapper.
    pub fn start_wrapped(&self, wrapper: &[&str], env: &[(&str, &Path)]) -> Node {
        let log = self.dir.path().join("stderr.log");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.arg("serve")
            .arg("--config")
            .arg(self.config())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is the program installed?)"));
        let pid = match wrapper.is_empty() {
            true => child.id(),
            false => meridian_child(child.id()),
        };
        Node { child, log, pid }
    }
}

/// The child of `parent` that runs meridian (at most 10 s to appear). A wrapper may start
/// short-lived helpers first (strace forks one to test ptrace options), so the command line
/// is checked too.
fn meridian_child(parent: u32) -> u32 {
    let path = format!("/proc/{parent}/task/{parent}/children");
    let want = bin().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for pid in text.split_whitespace() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            if first == want.as_bytes() {
                return pid.parse().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{parent} started no {want} within 10 s");
}

/// A running server (or its wrapper), killed on drop.
pub struct Node {
    pub child: Child,
    pub log: PathBuf,
    /// Meridian's own process (the child's, under a wrapper).
    pid: u32,
}

impl Node {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends a signal with kill(1).
    pub fn signal(&self, sig: &str) {
        let out = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kill -{sig} {}: {}\n{}",
            self.pid(),
            String::from_utf8_lossy(&out.stderr),
            self.stderr()
        );
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits until `addr` answers a query for `example.test. SOA` (at most 20 s).
    pub fn wait_answering(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("meridian exited with {status}:\n{}", self.stderr());
            }
            if answers(addr, Duration::from_millis(200)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no answer from {addr} within 20 s:\n{}", self.stderr());
    }

    /// Waits for the process to end (at most `limit`) and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("meridian still running after {limit:?}:\n{}", self.stderr());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.pid != self.child.id() && self.child.try_wait().ok().flatten().is_none() {
            // Meridian first: the wrapper would leave it running.
            let _killed = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let _killed = self.child.kill();
        let _waited = self.child.wait();
    }
}

/// One UDP query, no retry: true when a NOERROR reply with the same ID arrives in `wait`.
/// A connected socket, so a port nobody listens on fails at once (ICMP port unreachable).
pub fn answers(addr: SocketAddr, wait: Duration) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(addr).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    let q = crate::dnsclient::query(
        0x5151,
        "example.test.",
        hickory_proto::rr::RecordType::SOA,
        None,
    );
    if sock.send(&q).is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    match sock.recv(&mut buf) {
        Ok(n) => n >= 12 && buf[..2] == [0x51, 0x51] && buf[3] & 0x0f == 0,
        Err(_) => false,
    }
}
