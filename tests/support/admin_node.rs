//! One `meridian serve` on loopback for admin tests: a policy file and zone in a temporary
//! folder, free ports for DNS and the admin endpoint, the real binary (`MERIDIAN_BIN`, else
//! the one cargo built) killed on drop; a UDP query that does not panic on silence; a raw
//! HTTP/1.1 client that keeps its connection, so keep-alive and limits can be seen.

#![allow(dead_code)] // not every test binary uses every helper
#![allow(clippy::disallowed_methods)] // a test harness measures wall time

#[path = "ports.rs"]
mod ports;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};

/// The binary under test.
pub fn bin() -> PathBuf {
    std::env::var_os("MERIDIAN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_meridian")))
}

/// A port free for UDP and TCP on 127.0.0.1 (at the time of asking).
pub fn free_port() -> u16 {
    ports::free_port_lo()
}

/// The A (or TXT) data of `name`, or None when nothing answers within 500 ms.
pub fn lookup(server: SocketAddr, name: &str, rtype: RecordType) -> Option<Vec<String>> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let id = rand_id();
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).ok()?, rtype));
    sock.send_to(&m.to_vec().ok()?, server).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let r = Message::from_vec(&buf[..n]).ok()?;
    (r.metadata.id == id).then(|| {
        r.answers
            .iter()
            .filter_map(|rr| match &rr.data {
                RData::A(a) => Some(a.to_string()),
                RData::TXT(t) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    })
}

fn rand_id() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.subsec_nanos() % 65_000) as u16 + 1
}

/// A running server and its folder.
pub struct Node {
    child: Child,
    pub dir: tempfile::TempDir,
    pub cfg: PathBuf,
    pub dns: SocketAddr,
    pub admin: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _waited = self.child.wait();
    }
}

impl Node {
    /// Writes `zones/<origin>.zone` with `zone` and a policy file whose `[server]` table
    /// has the ports, the token file and `server_extra`, followed by `rest`; starts the
    /// server and waits (at most 20 s) until `probe_name` answers over UDP.
    pub fn start(
        origin: &str,
        zone: &str,
        server_extra: &str,
        rest: &str,
        probe_name: &str,
    ) -> Node {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("zones")).unwrap();
        std::fs::write(dir.path().join(format!("zones/{origin}.zone")), zone).unwrap();
        let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let cfg = dir.path().join("m.toml");
        let mut node = Node {
            child: Command::new("true").spawn().unwrap(),
            dir,
            cfg,
            dns,
            admin,
        };
        node.write_config(server_extra, rest);
        node.child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&node.cfg)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while lookup(dns, probe_name, RecordType::A).is_none_or(|a| a.is_empty()) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    /// The policy file as [`Node::start`] writes it.
    pub fn config_text(&self, server_extra: &str, rest: &str) -> String {
        format!(
            "[server]\nlisten = [\"{}\"]\nzones = \"zones\"\nadmin = \"{}\"\n\
             admin_token_file = \"token\"\n{server_extra}\n{rest}",
            self.dns, self.admin
        )
    }

    /// Replaces the policy file (through a rename, as an editor would).
    pub fn write_config(&self, server_extra: &str, rest: &str) {
        let tmp = self.dir.path().join("m.toml.tmp");
        std::fs::write(&tmp, self.config_text(server_extra, rest)).unwrap();
        std::fs::rename(&tmp, &self.cfg).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The token the server created.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.path("token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// `meridian ARGS --config m.toml`, with the exit code and both outputs.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        cli_with(&self.cfg, args)
    }

    /// Kills the server; the folder stays.
    pub fn stop(&mut self) {
        let _killed = self.child.kill();
        let _waited = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `meridian ARGS --config CFG`.
pub fn cli_with(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// An answer read off the wire.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 connection, kept open between requests.
pub struct Http {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Http {
    pub fn connect(addr: SocketAddr) -> Http {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Http {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }

    /// Sends raw bytes; false when the server has closed.
    pub fn send_raw(&mut self, bytes: &[u8]) -> bool {
        self.writer.write_all(bytes).is_ok()
    }

    /// One request with an optional bearer token and body.
    pub fn request(&mut self, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert!(self.send_raw(req.as_bytes()), "connection closed");
        self.read_answer().expect("no answer")
    }

    /// The next answer, or None when the connection ends first.
    pub fn read_answer(&mut self) -> Option<Answer> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status = line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':')?;
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(Some(0), |(_, v)| v.parse().ok())?;
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).ok()?;
        Some(Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Waits for the server to close: true if it did within `limit`.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.reader.get_ref().set_read_timeout(Some(limit)).unwrap();
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}
