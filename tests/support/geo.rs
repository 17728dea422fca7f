//! The harness shared by the per-client answer tests over real sockets: the names and
//! addresses of `tests/data/geo/geo.toml`, table rows (client, expected answer, TTL, ECS
//! scope), the in-process server, and the checks of one reply.

#![allow(dead_code)] // not every test binary uses every helper

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dnsclient::{Proto, ecs_body, ecs_options, exchange, query};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use meridian::dns::DnsServer;
use tokio_util::sync::CancellationToken;

use RecordType::{A, AAAA};

// ---------------------------------------------------------------------------------------
// Names and addresses of tests/data/geo/geo.toml

pub const WWW: &str = "www.geo.test.";
pub const API: &str = "api.geo.test.";
pub const NEAR: &str = "near.geo.test.";
pub const WTS: &str = "wts.wild.geo.test.";
pub const CAP: &str = "cap.geo.test.";

pub const HQ_T: &str = "203.0.113.10"; // hq telecom link
pub const HQ_U: &str = "203.0.113.11"; // hq unicom link
pub const HQ_D4: &str = "203.0.113.12"; // hq default link
pub const HQ_M: &str = "203.0.113.13"; // hq mobile link
pub const HQ_D6: &str = "2001:db8:10::12"; // hq default link
pub const DR_T: &str = "192.0.2.20"; // dr telecom link
pub const DR_D4: &str = "192.0.2.22"; // dr default link
pub const DR_D6: &str = "2001:db8:20::22"; // dr default link
pub const US30: &str = "198.51.100.30"; // us default link (IPv4 only site)
pub const US31: &str = "198.51.100.31";
pub const SYD: &str = "2001:db8:40::40"; // syd default link (IPv6 only site)

/// What the answer section must hold.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    /// Exactly these addresses (any order), each once.
    Is(&'static [&'static str]),
    /// NOERROR, no answer, the zone's SOA in the authority section.
    NoData,
    /// Exactly one of these sets (weighted mode: the hash picks).
    OneOf(&'static [&'static [&'static str]]),
}
pub use Want::{Is, NoData, OneOf};

pub const US: Want = Is(&[US30, US31]);

#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub name: &'static str,
    pub qtype: RecordType,
    /// Source address of the client socket.
    pub src: &'static str,
    /// ECS address and source prefix, if the query carries the option.
    pub ecs: Option<(&'static str, u8)>,
    pub want: Want,
    pub ttl: u32,
    /// Another TTL the answer may have: a `weighted` row whose answer is the client's
    /// top-ranked site (service TTL) or not (`ttl_degraded`) depending on the hash.
    pub alt_ttl: Option<u32>,
    /// Expected ECS SCOPE (only checked when the query has ECS).
    pub scope: u8,
}

/// A client known by its ECS option, sending from 127.0.0.1 (not in the databases).
pub const fn e(
    name: &'static str,
    qtype: RecordType,
    addr: &'static str,
    prefix: u8,
    want: Want,
    ttl: u32,
    scope: u8,
) -> Row {
    Row {
        name,
        qtype,
        src: "127.0.0.1",
        ecs: Some((addr, prefix)),
        want,
        ttl,
        alt_ttl: None,
        scope,
    }
}

/// A client known by its source address, no ECS option.
pub const fn s(
    name: &'static str,
    qtype: RecordType,
    src: &'static str,
    want: Want,
    ttl: u32,
) -> Row {
    Row {
        name,
        qtype,
        src,
        ecs: None,
        want,
        ttl,
        alt_ttl: None,
        scope: 0,
    }
}

/// A source address and an ECS option the server should not use.
#[allow(clippy::too_many_arguments)]
pub const fn se(
    name: &'static str,
    qtype: RecordType,
    src: &'static str,
    addr: &'static str,
    prefix: u8,
    want: Want,
    ttl: u32,
    scope: u8,
) -> Row {
    Row {
        name,
        qtype,
        src,
        ecs: Some((addr, prefix)),
        want,
        ttl,
        alt_ttl: None,
        scope,
    }
}

// ---------------------------------------------------------------------------------------
// The server under test, in process: the same snapshot building and listeners as `serve`.

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/geo")
}

pub struct Running {
    pub rt: tokio::runtime::Runtime,
    pub shutdown: CancellationToken,
    pub dns: Option<DnsServer>,
    pub addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(dns) = self.dns.take() {
            let joined = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), dns.join()).await });
            if joined.is_err() {
                eprintln!("DNS listeners did not stop within 5 s");
            }
        }
    }
}

impl Row {
    /// The same row, also accepting `ttl` (see [`Row::alt_ttl`]).
    pub const fn or_ttl(mut self, ttl: u32) -> Row {
        self.alt_ttl = Some(ttl);
        self
    }
}

/// Serves geo.toml with the given files appended (overrides), on 127.0.0.1:<free port>.
pub fn start(extra: &[&str]) -> Running {
    start_with(extra, |_| None)
}

/// As [`start`], with the health table's verdict replaced for the targets `verdict`
/// returns one for (probe results the in-process server does not run).
pub fn start_with(
    extra: &[&str],
    verdict: impl Fn(&meridian::policy::Target) -> Option<meridian::health::Verdict>,
) -> Running {
    let dir = data_dir();
    let path = dir.join("geo.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for x in extra {
        text.push('\n');
        text.push_str(&std::fs::read_to_string(dir.join(x)).unwrap());
    }
    let cfg = meridian::config::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    let (mut snapshot, errors) = meridian::serve::build_snapshot(&cfg, None, None).unwrap();
    assert!(errors.is_empty(), "zone errors: {errors:?}");
    if let Some(policy) = snapshot.policy.clone() {
        let table: Vec<_> = policy
            .targets()
            .iter()
            .map(|t| verdict(t).unwrap_or_else(|| snapshot.health.get(t.id.index())))
            .collect();
        snapshot.health = std::sync::Arc::new(meridian::health::Table::new(table));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let dns = {
        let _guard = rt.enter();
        DnsServer::start_with_threads(
            &cfg.server.listen,
            meridian::state::shared(snapshot),
            shutdown.clone(),
            1,
        )
        .unwrap()
    };
    let addr = dns.local_addrs()[0];
    Running {
        rt,
        shutdown,
        dns: Some(dns),
        addr,
    }
}

// ---------------------------------------------------------------------------------------
// Checking one reply

pub fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|_| panic!("bad address in a table: {s}"))
}

pub fn ecs_of(row: &Row) -> Option<Vec<u8>> {
    row.ecs.map(|(a, p)| ecs_body(ip(a), p))
}

pub fn ask(proto: Proto, server: SocketAddr, row: &Row, id: u16) -> Vec<u8> {
    let q = query(id, row.name, row.qtype, ecs_of(row).as_deref());
    exchange(proto, ip(row.src), server, &q)
}

/// The sorted addresses of the reply's answer section, after checking every record is of
/// the asked type and name with the row's TTL.
pub fn answer_addrs(row: &Row, m: &Message) -> Result<Vec<IpAddr>, String> {
    let mut got = Vec::new();
    for r in &m.answers {
        if r.name.to_ascii().to_ascii_lowercase() != row.name {
            return Err(format!("answer owner {} is not {}", r.name, row.name));
        }
        if r.ttl != row.ttl && Some(r.ttl) != row.alt_ttl {
            return Err(format!("TTL {} instead of {}", r.ttl, row.ttl));
        }
        match (&r.data, row.qtype) {
            (RData::A(a), A) => got.push(IpAddr::V4(a.0)),
            (RData::AAAA(a), AAAA) => got.push(IpAddr::V6(a.0)),
            (d, _) => return Err(format!("unexpected answer record {d:?}")),
        }
    }
    got.sort();
    Ok(got)
}

pub fn sorted(list: &[&str]) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = list.iter().map(|a| ip(a)).collect();
    v.sort();
    v
}

/// Checks rcode, flags, answer, authority and the ECS option; returns the answer.
pub fn check(row: &Row, resp: &[u8]) -> Result<Vec<IpAddr>, String> {
    let m = Message::from_vec(resp).map_err(|e| format!("unparsable reply: {e}"))?;
    if m.metadata.response_code != ResponseCode::NoError {
        return Err(format!("rcode {:?}", m.metadata.response_code));
    }
    if !m.metadata.authoritative {
        return Err("AA not set".into());
    }
    let got = answer_addrs(row, &m)?;
    match row.want {
        Is(list) if got != sorted(list) => return Err(format!("answer {got:?}, want {list:?}")),
        OneOf(alts) if !alts.iter().any(|l| sorted(l) == got) => {
            return Err(format!("answer {got:?}, want one of {alts:?}"));
        }
        NoData => {
            if !got.is_empty() {
                return Err(format!("answer {got:?}, want NODATA"));
            }
            let soa = m.authorities.iter().any(|r| {
                matches!(r.data, RData::SOA(_)) && r.name.to_ascii() == "geo.test." && r.ttl == 300
            });
            if !soa || m.authorities.len() != 1 {
                return Err(format!("NODATA authority {:?}", m.authorities));
            }
        }
        _ => {}
    }
    let echoed = ecs_options(resp);
    match ecs_of(row) {
        None if !echoed.is_empty() => return Err(format!("ECS {echoed:?} without one asked")),
        None => {}
        Some(mut want) => {
            want[3] = row.scope;
            if echoed != [want.clone()] {
                return Err(format!(
                    "ECS {echoed:?}, want [{want:?}] (scope {})",
                    row.scope
                ));
            }
        }
    }
    Ok(got)
}

/// Runs every row over UDP and over TCP; all failures are reported together.
pub fn run_table(server: SocketAddr, rows: &[Row]) {
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let mut answers = Vec::new();
        for proto in [Proto::Udp, Proto::Tcp] {
            let resp = ask(proto, server, row, 1000 + i as u16);
            match check(row, &resp) {
                Ok(a) => answers.push(a),
                Err(e) => failures.push(format!("row {i} {proto:?} {row:?}: {e}")),
            }
        }
        if answers.len() == 2 && answers[0] != answers[1] {
            failures.push(format!(
                "row {i} {row:?}: UDP {:?} != TCP {:?}",
                answers[0], answers[1]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
