//! Reflection and floods over real loopback sockets: a flood from one client prefix is rate
//! limited (answered, truncated and dropped counted) while another prefix gets full answers
//! at the same time and TCP is never limited; a valid server cookie exempts its client; a
//! client cookie alone under the limit gets BADCOOKIE and gets in with the cookie it learns;
//! the amplification factor of a 1 KB apex TXT and of ANY with rate limiting off and on.
//! The real binary with `kdig +cookie` checks that a standard client and Meridian agree on
//! cookies. Every loop is bounded in count and in time; nothing asserts on timing beyond
//! bounding the refill the elapsed time allows.

#![allow(clippy::disallowed_methods)] // real sockets: the refill depends on wall time

#[path = "support/dnsclient.rs"]
mod dnsclient;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use meridian::config::RrlSettings;
use meridian::dns::DnsServer;
use meridian::dns::cookie::{self, CookieSecret};
use meridian::state::{Snapshot, shared};
use tokio_util::sync::CancellationToken;

const SECRET: [u8; 16] = [
    0xe5, 0xe9, 0x73, 0xe5, 0xa6, 0xb2, 0xa4, 0x3f, 0x48, 0xe7, 0xdc, 0x84, 0x9e, 0x37, 0xbf, 0xcf,
];

/// example.test with a TXT RRset of about 1 KB at the apex and an A record at www.
fn zone_text() -> String {
    let mut z = String::from(
        "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n@ TXT",
    );
    for c in ['a', 'b', 'c', 'd'] {
        z.push_str(&format!(" \"{}\"", c.to_string().repeat(250)));
    }
    z.push('\n');
    z
}

fn snapshot(rate: u32, slip: u32) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("example.test.zone");
    std::fs::write(&f, zone_text()).unwrap();
    let (set, errors) = meridian::dns::load_zones(&[f]);
    assert!(errors.is_empty(), "{errors:?}");
    let mut s = Snapshot::new(set, 1232);
    // Loopback is exempt by default; these tests flood from 127/8 on purpose.
    s.rrl = RrlSettings {
        rate,
        slip,
        exempt: Vec::new().into(),
        ..RrlSettings::default()
    };
    s.cookie_secret = Some(CookieSecret::from_bytes(SECRET));
    s
}

/// A running in-process server with one UDP thread.
struct Server {
    rt: tokio::runtime::Runtime,
    shutdown: CancellationToken,
    server: Option<DnsServer>,
    addr: SocketAddr,
}

impl Server {
    fn start(snap: Snapshot) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shutdown = CancellationToken::new();
        let listen: [SocketAddr; 1] = ["127.0.0.1:0".parse().unwrap()];
        let server = rt
            .block_on(async {
                DnsServer::start_with_threads(&listen, shared(snap), shutdown.clone(), 1)
            })
            .unwrap();
        let addr = server.local_addrs()[0];
        Server {
            rt,
            shutdown,
            server: Some(server),
            addr,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.join());
        }
    }
}

/// A query with EDNS (payload 1232) and, optionally, a COOKIE option body.
fn query(id: u16, name: &str, qtype: u16, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for l in name.split('.') {
        p.push(l.len() as u8);
        p.extend_from_slice(l.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    let opts = cookie.map_or(Vec::new(), |c| {
        let mut o = vec![0, 10];
        o.extend_from_slice(&(c.len() as u16).to_be_bytes());
        o.extend_from_slice(c);
        o
    });
    p.extend_from_slice(&(opts.len() as u16).to_be_bytes());
    p.extend_from_slice(&opts);
    p
}

/// What a reply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// Records in the answer section, TC clear.
    Full,
    /// TC set and no records.
    Truncated,
    BadCookie,
    Other,
}

fn classify(r: &[u8]) -> Reply {
    let tc = r[2] & 0x02 != 0;
    let ancount = u16::from_be_bytes([r[6], r[7]]);
    let ext = dnsclient::opt_rdata(r).map(|_| ());
    // BADCOOKIE = 23: header RCODE 7, and the OPT's extended RCODE 1 (checked by the caller
    // through the cookie it carries).
    match (tc, ancount, r[3] & 0x0f) {
        (false, 1.., 0) => Reply::Full,
        (true, 0, _) => Reply::Truncated,
        (false, 0, 7) if ext.is_some() => Reply::BadCookie,
        _ => Reply::Other,
    }
}

/// The COOKIE option body of a reply, if any.
fn reply_cookie(r: &[u8]) -> Option<Vec<u8>> {
    let rd = dnsclient::opt_rdata(r)?;
    let mut p = 0;
    while p + 4 <= rd.len() {
        let code = u16::from_be_bytes([rd[p], rd[p + 1]]);
        let len = usize::from(u16::from_be_bytes([rd[p + 2], rd[p + 3]]));
        if code == 10 {
            return rd.get(p + 4..p + 4 + len).map(<[u8]>::to_vec);
        }
        p += 4 + len;
    }
    None
}

/// Counts of a flood: replies by kind, bytes both ways, and how long the sending took.
#[derive(Debug, Default)]
struct Flood {
    sent: usize,
    full: usize,
    truncated: usize,
    badcookie: usize,
    other: usize,
    bytes_in: usize,
    bytes_out: usize,
    secs: f64,
}

impl Flood {
    fn silent(&self) -> usize {
        self.sent - self.full - self.truncated - self.badcookie - self.other
    }
    fn factor(&self) -> f64 {
        self.bytes_out as f64 / self.bytes_in as f64
    }
}

/// Sends `n` copies of `q` from `src` in bursts of 25, reading replies as they come;
/// between bursts, `between` runs (another client's query). Then reads until 300 ms of
/// silence (at most 3 s).
fn flood(server: SocketAddr, src: &str, q: &[u8], n: usize, mut between: impl FnMut()) -> Flood {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    sock.set_recv_buffer_size(4 << 20).unwrap();
    let bind: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&bind.into()).unwrap();
    let sock: UdpSocket = sock.into();
    sock.set_nonblocking(true).unwrap();
    let mut f = Flood::default();
    let mut buf = vec![0u8; 65535];
    let mut drain = |f: &mut Flood| {
        while let Ok((len, _)) = sock.recv_from(&mut buf) {
            f.bytes_out += len;
            match classify(&buf[..len]) {
                Reply::Full => f.full += 1,
                Reply::Truncated => f.truncated += 1,
                Reply::BadCookie => f.badcookie += 1,
                Reply::Other => f.other += 1,
            }
        }
    };
    let start = Instant::now();
    while f.sent < n {
        for _ in 0..25.min(n - f.sent) {
            sock.send_to(q, server).unwrap();
            f.sent += 1;
            f.bytes_in += q.len();
        }
        std::thread::sleep(Duration::from_millis(1));
        drain(&mut f);
        between();
    }
    f.secs = start.elapsed().as_secs_f64();
    let end = Instant::now() + Duration::from_secs(3);
    let mut quiet = Instant::now();
    while Instant::now() < end && quiet.elapsed() < Duration::from_millis(300) {
        let before = f.bytes_out;
        drain(&mut f);
        if f.bytes_out != before {
            quiet = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f
}

/// One UDP exchange from `src` (None: no reply within 500 ms).
fn ask(server: SocketAddr, src: &str, q: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind(format!("{src}:0")).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    sock.send_to(q, server).unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

const RATE: u32 = 20;

#[test]
fn a_flood_from_one_prefix_is_limited_while_others_get_full_answers() {
    let srv = Server::start(snapshot(RATE, 2));
    let q = query(1, "example.test", 16, None);
    let other_q = query(2, "www.example.test", 1, None);
    let mut others = Vec::new();
    let f = flood(srv.addr, "127.0.1.1", &q, 400, || {
        others.push(ask(srv.addr, "127.0.2.1", &other_q).map(|r| classify(&r)));
    });
    eprintln!("{f:?} silent {}", f.silent());
    assert_eq!(f.other + f.badcookie, 0, "{f:?}");
    // The bucket's depth at once, and at most what the elapsed time refilled.
    let most = RATE as f64 * (1.0 + f.secs + 0.5);
    assert!(f.full >= RATE as usize && (f.full as f64) <= most, "{f:?}");
    // slip = 2: every second limited answer goes out truncated, the others not at all.
    let limited = f.sent - f.full;
    assert!(limited >= 300, "{f:?}");
    assert!(f.truncated.abs_diff(limited / 2) <= 2, "{f:?}");
    assert!(f.silent().abs_diff(limited - limited / 2) <= 2, "{f:?}");
    // The client next door got every answer, in full, during the flood.
    assert_eq!(others.len(), 16);
    assert!(others.iter().all(|r| *r == Some(Reply::Full)), "{others:?}");
    // TCP from the flooded prefix is never limited: 40 queries, 40 full answers.
    let src: IpAddr = "127.0.1.1".parse().unwrap();
    for id in 0..40u16 {
        let r = dnsclient::exchange(
            dnsclient::Proto::Tcp,
            src,
            srv.addr,
            &query(id, "example.test", 16, None),
        );
        assert_eq!(classify(&r), Reply::Full, "tcp query {id}");
    }
}

#[test]
fn a_valid_server_cookie_exempts_its_client_and_badcookie_lets_a_real_client_in() {
    // One response a second and every limited one slipped: the refill while this test runs
    // (well under a second after the flood) gives nothing away.
    let srv = Server::start(snapshot(1, 1));
    let src = "127.0.3.1";
    // Empty the prefix's bucket.
    let f = flood(
        srv.addr,
        src,
        &query(1, "example.test", 16, None),
        200,
        || {},
    );
    assert!(f.full < 100, "{f:?}");
    let secret = CookieSecret::from_bytes(SECRET);
    let client = [1, 2, 3, 4, 5, 6, 7, 8];
    let ip: IpAddr = src.parse().unwrap();
    let mut held = client.to_vec();
    held.extend_from_slice(&cookie::server_cookie(
        &secret,
        &client,
        ip,
        meridian::dns::answer::unix_now(),
    ));
    // With the cookie: 30 of 30 answered in full, and the cookie is echoed.
    for id in 0..30u16 {
        let r = ask(srv.addr, src, &query(id, "example.test", 16, Some(&held)))
            .expect("a cookie client is never dropped");
        assert_eq!(classify(&r), Reply::Full, "query {id}");
        assert_eq!(reply_cookie(&r).as_deref(), Some(&held[..]));
    }
    // A client cookie alone is limited: BADCOOKIE (the slip), never an answer.
    let fresh = [9u8, 9, 9, 9, 9, 9, 9, 9];
    let mut learned = None;
    let mut seen = Vec::new();
    for id in 0..6u16 {
        let r = ask(srv.addr, src, &query(id, "example.test", 16, Some(&fresh)));
        seen.push(r.as_deref().map(classify));
        if let Some(r) = r.filter(|r| classify(r) == Reply::BadCookie) {
            let c = reply_cookie(&r).expect("BADCOOKIE carries a server cookie");
            assert_eq!(c[..8], fresh);
            learned = Some(c);
        }
    }
    let bad = seen
        .iter()
        .filter(|r| **r == Some(Reply::BadCookie))
        .count();
    assert!(
        bad >= 5 && seen.iter().all(|r| r != &Some(Reply::Full)),
        "{seen:?}"
    );
    // Retrying with the server cookie it learned, it gets full answers.
    let learned = learned.unwrap();
    let r = ask(srv.addr, src, &query(7, "example.test", 16, Some(&learned))).unwrap();
    assert_eq!(classify(&r), Reply::Full);
}

/// Bytes out / bytes in for a flood of 1000 queries from one prefix: the 1 KB apex TXT and
/// ANY at the apex, rate limiting off and on (rate 20, slip 2). Printed for
/// docs/reliability.md; the assertions only pin the orders of magnitude.
#[test]
fn amplification_with_and_without_rate_limiting() {
    let mut rows = Vec::new();
    for (label, qtype) in [("TXT", 16u16), ("ANY", 255)] {
        for rate in [0u32, RATE] {
            let srv = Server::start(snapshot(rate, 2));
            let q = query(1, "example.test", qtype, None);
            // One reply alone, then the flood.
            let one = ask(srv.addr, "127.0.4.1", &q).unwrap();
            let f = flood(srv.addr, "127.0.5.1", &q, 1000, || {});
            rows.push(format!(
                "{label} rate={rate}: query {} B, answer {} B ({:.1}x); flood of {}: {} full, {} truncated, {} dropped, {} B in, {} B out, {:.2}x in {:.2} s",
                q.len(),
                one.len(),
                one.len() as f64 / q.len() as f64,
                f.sent,
                f.full,
                f.truncated,
                f.silent(),
                f.bytes_in,
                f.bytes_out,
                f.factor(),
                f.secs
            ));
            match (qtype, rate) {
                (16, 0) => assert!(f.factor() > 20.0, "{f:?}"),
                (16, _) => assert!(f.factor() < 3.0, "{f:?}"),
                (_, _) => assert!(f.factor() < 4.0, "{f:?}"),
            }
        }
    }
    eprintln!("{}", rows.join("\n"));
}

fn kdig(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("kdig")
        .arg("@127.0.0.1")
        .args(["-p", &port.to_string(), "+timeout=2", "+retry=0"])
        .args(args)
        .output()
        .expect("kdig (knot-dnsutils) is installed by scripts/test-all.sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The hex after `; COOKIE: ` in kdig's output.
fn kdig_cookie(out: &str) -> Option<String> {
    let line = out.lines().find(|l| l.contains("COOKIE:"))?;
    let hex = line.split("COOKIE:").nth(1)?.split_whitespace().next()?;
    Some(hex.to_ascii_lowercase())
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _killed = self.0.kill();
        let _waited = self.0.wait();
    }
}

fn free_port() -> u16 {
    dnsclient::free_port(&[std::net::IpAddr::from([127, 0, 0, 1])])
}

fn write_secret(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("cookie.secret");
    let hex: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&p, hex + "\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// The real binary with `[server] cookie_secret_file` and a tight `rrl`, against kdig: its
/// cookie comes back with a server cookie that verifies under the shared secret, a held
/// cookie is echoed, and under the limit kdig's BADCOOKIE retry gets it a full answer.
#[test]
fn kdig_cookies_against_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("example.test.zone"), zone_text()).unwrap();
    let secret = write_secret(dir.path());
    let port = free_port();
    let cfg = dir.path().join("meridian.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\nzones = [\"example.test.zone\"]\nudp_threads = 1\ncookie_secret_file = {secret:?}\nrrl = {{ rate = 1, slip = 1, window = \"1s\", exempt = [] }}\n"
        ),
    )
    .unwrap();
    let _child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(["serve", "--config"])
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let out = kdig(port, &["+tcp", "+cookie", "www.example.test", "A"]);
        if out.contains("NOERROR") || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // kdig checks that its client cookie came back; the server half verifies here.
    let c = kdig_cookie(&first).unwrap_or_else(|| panic!("no cookie in {first}"));
    assert_eq!(c.len(), 48, "{first}");
    let parsed = cookie::Cookie::parse(&hex_bytes(&c)).unwrap();
    let (verdict, _) = cookie::check(
        &CookieSecret::from_bytes(SECRET),
        &parsed,
        "127.0.0.1".parse().unwrap(),
        meridian::dns::answer::unix_now(),
    );
    assert_eq!(verdict, cookie::Verdict::Valid, "{first}");
    // Sent back, it is echoed unchanged (under half an hour old).
    let again = kdig(port, &[&format!("+cookie={c}"), "+tcp", "www.example.test"]);
    assert_eq!(kdig_cookie(&again).as_deref(), Some(c.as_str()), "{again}");
    // Use up the bucket of 127.0.0.0/24 over UDP, then: without a cookie, a truncated reply
    // (slip = 1) that kdig retries over TCP; with a fresh client cookie, BADCOOKIE ...
    let flood_q = query(1, "example.test", 16, None);
    let f = flood(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "127.0.0.1",
        &flood_q,
        50,
        || {},
    );
    assert!(f.truncated >= 40, "{f:?}");
    let bad = kdig(port, &["+cookie", "+nobadcookie", "example.test", "TXT"]);
    assert!(bad.contains("BADCOOKIE"), "{bad}");
    // ... which kdig answers by retrying with the server cookie: a full answer.
    let retried = kdig(port, &["+cookie", "example.test", "TXT"]);
    assert!(
        retried.contains("NOERROR") && retried.contains("ANSWER: 1"),
        "{retried}"
    );
}
