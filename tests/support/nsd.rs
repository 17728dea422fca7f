//! Runs NSD as a child process on a free loopback port, serving the fixture zones; killed
//! on drop. Panics with a clear message when `nsd` is not installed.

#[path = "ports.rs"]
mod ports;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nsd {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            eprintln!("killing nsd: {e}");
        }
        if let Err(e) = self.child.wait() {
            eprintln!("waiting for nsd: {e}");
        }
    }
}

fn nsd_binary() -> PathBuf {
    for p in ["/usr/sbin/nsd", "/usr/local/sbin/nsd"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    if let Ok(out) = Command::new("sh").args(["-c", "command -v nsd"]).output()
        && out.status.success()
    {
        return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    }
    panic!("nsd is not installed: the NSD oracle test needs it (Debian package `nsd`)");
}

/// A port free on 127.0.0.1 for both UDP and TCP (at the time of asking).
pub fn free_port() -> u16 {
    ports::free_port_lo()
}

impl Nsd {
    /// Starts NSD serving `zones` (origin, file name) from `zonesdir`.
    pub fn start(zonesdir: &Path, zones: &[(String, String)]) -> Nsd {
        let bin = nsd_binary();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let mut conf = format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{}\"\n  pidfile: \"{d}/nsd.pid\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  logfile: \"{d}/nsd.log\"\n  server-count: 1\n  \
             rrl-ratelimit: 0\n  hide-version: yes\n  verbosity: 1\nremote-control:\n  control-enable: no\n",
            zonesdir.display()
        );
        for (origin, file) in zones {
            conf.push_str(&format!(
                "zone:\n  name: \"{origin}\"\n  zonefile: \"{file}\"\n"
            ));
        }
        let conf_path = dir.path().join("nsd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(&bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let nsd = Nsd {
            child,
            addr,
            _dir: dir,
        };
        nsd.wait_ready();
        nsd
    }

    fn wait_ready(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let q = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x04test\x00\x00\x06\x00\x01";
        #[allow(clippy::disallowed_methods)] // a test helper waiting on a real process
        let start = Instant::now();
        let mut buf = [0u8; 512];
        while start.elapsed() < Duration::from_secs(10) {
            sock.send_to(q, self.addr).unwrap();
            if sock.recv_from(&mut buf).is_ok() {
                return;
            }
        }
        let log = std::fs::read_to_string(self._dir.path().join("nsd.log")).unwrap_or_default();
        panic!("nsd did not answer within 10 s; its log:\n{log}");
    }
}
