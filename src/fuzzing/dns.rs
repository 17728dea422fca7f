//! The DNS harnesses: a datagram through the answer core ([`wire_answer`]) and an EDNS Client
//! Subnet option body through the option parser and a service answer ([`ecs`]), both against
//! the snapshot `serve` builds from the example configuration (examples/meridian.toml, the
//! zones in zones/, the geo CSVs), with a fixed cookie secret and NSID and CH identity on.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use super::message::{self, Reply};
use crate::dns::answer::{self, Kind, Transport};
use crate::dns::wire::{self, OPT_ECS, ParseError};
use crate::state::Snapshot;

/// The cookie clock: fixed, so runs are reproducible.
const NOW: u32 = 1_700_000_000;

/// Client addresses the first input byte picks from: an ISP CIDR of the example, a private
/// address, an IPv6 ISP prefix, an address in no list.
const CLIENTS: [&str; 4] = [
    "198.51.100.7:5300",
    "10.1.2.3:5300",
    "[2001:db8:200::1]:5300",
    "203.0.113.200:5300",
];

/// The example configuration's snapshot, built once (a fixture: failing to build it is a bug
/// in the source tree, not in the input).
fn snapshot() -> &'static Snapshot {
    static SNAP: OnceLock<Snapshot> = OnceLock::new();
    SNAP.get_or_init(|| {
        let path = super::source_root().join("examples/meridian.toml");
        let cfg = crate::config::load(&path).expect("the example configuration loads");
        let (mut snap, errors) =
            crate::serve::build_snapshot(&cfg, None, None).expect("the example snapshot builds");
        assert!(errors.is_empty(), "example zones: {errors:?}");
        snap.cookie_secret = Some(crate::dns::cookie::CookieSecret::from_bytes([7; 16]));
        snap.identity = crate::dns::identity::Identity::new("fuzz.node", true, true);
        snap
    })
}

/// Input: one control byte (bit 0: TCP instead of UDP; bits 1-2: the client address; bit 3:
/// also write the rate limiter's slipped reply), then the query as it came off the wire.
/// Checks every reply: it is a well-formed response with the query's ID, within the size
/// the transport allows, echoing the question of a query that parsed.
pub fn wire_answer(data: &[u8]) {
    let Some((&control, query)) = data.split_first() else {
        return;
    };
    let transport = if control & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let client: SocketAddr = CLIENTS[usize::from(control >> 1) & 3]
        .parse()
        .expect("fixed client addresses parse");
    let snap = snapshot();
    let mut out = Vec::new();
    let outcome = answer::answer_at(snap, query, client, transport, NOW, &mut out);
    let parsed = wire::parse_query(query);
    if out.is_empty() {
        assert_eq!(outcome.kind, Kind::Dropped, "no reply for {outcome:?}");
        assert!(matches!(parsed, Err(ParseError::Drop)), "dropped a query");
        return;
    }
    assert_ne!(outcome.kind, Kind::Dropped, "a reply for a dropped query");
    let reply = message::read(&out);
    let id = u16::from_be_bytes([query[0], query[1]]);
    assert_eq!(reply.id, id, "reply ID");
    assert_eq!(reply.rcode(), outcome.rcode, "RCODE written vs reported");
    assert!(
        out.len() <= size_limit(snap, &parsed, transport),
        "reply too large"
    );
    if let Ok(q) = &parsed {
        if let Some(range) = reply.question.clone() {
            assert_eq!(&out[range], q.question, "question not echoed");
        }
        assert_eq!(
            reply.opt.is_some(),
            q.edns.is_some(),
            "OPT in the reply iff in the query"
        );
        if reply.flags & 0x0200 != 0 {
            assert_eq!(transport, Transport::Udp, "TC over TCP");
        }
        if control & 8 != 0 {
            slipped(snap, query, client, outcome.rcode, id);
        }
    }
}

/// The largest reply allowed: 512 without EDNS, the requestor's payload (at least 512, at
/// most ours) with it, 65535 over TCP.
fn size_limit(
    snap: &Snapshot,
    parsed: &Result<wire::Query<'_>, ParseError>,
    t: Transport,
) -> usize {
    let edns = match parsed {
        Ok(q) => q.edns,
        Err(ParseError::FormErr(_, e)) => *e,
        Err(_) => None,
    };
    match (t, edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, None) => 512,
        (Transport::Udp, Some(e)) => {
            usize::from(e.payload.max(512).min(snap.max_udp_payload.max(512)))
        }
    }
}

/// The rate limiter's reply to the same query: a response with its ID, no larger than the
/// largest UDP reply.
fn slipped(snap: &Snapshot, query: &[u8], client: SocketAddr, rcode: u16, id: u16) {
    let mut out = Vec::new();
    let rcode = answer::limited_reply(snap, query, client, NOW, rcode, &mut out);
    let reply = message::read(&out);
    assert_eq!(reply.id, id, "slipped reply ID");
    assert_eq!(reply.rcode(), rcode, "slipped RCODE");
    assert_eq!(reply.answers, 0, "records in a slipped reply");
    assert!(out.len() <= 512, "slipped reply of {} bytes", out.len());
}

/// Input: one byte picking the name (bit 0: `www`, a service, or `static`, zone data), then
/// the body of an ECS option. The option is parsed on its own and inside a query: a body
/// the parser refuses makes the query FORMERR; one it accepts has its family, source prefix
/// and address echoed in the reply with a scope no longer than the family's addresses, and
/// scope 0 for zone data (RFC 7871 section 7.2.1).
pub fn ecs(data: &[u8]) {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let Ok(len) = u16::try_from(body.len()) else {
        return;
    };
    if len > 1024 {
        return;
    }
    let parsed = wire::parse_ecs(body);
    if let Some(e) = parsed {
        let max = if e.family == 1 { 32 } else { 128 };
        assert!(e.source_prefix <= max, "source prefix {}", e.source_prefix);
        assert_eq!(
            usize::from(e.addr_len),
            usize::from(e.source_prefix).div_ceil(8)
        );
        assert_eq!(
            &e.addr[..usize::from(e.addr_len)],
            &body[4..],
            "address bytes"
        );
        let ip = e.ip();
        assert_eq!(ip.is_ipv4(), e.family == 1, "family vs address");
        let (client, prefix) =
            answer::effective_client(IpAddr::from([192, 0, 2, 1]), Some(&edns_of(e)));
        if let Some(p) = prefix {
            assert_eq!((client, p), (ip, e.source_prefix), "effective client");
        }
    }
    let service = control & 1 == 0;
    let name: &[u8] = if service {
        b"\x03www\x07example\x04test\x00"
    } else {
        b"\x06static\x07example\x04test\x00"
    };
    let mut q = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(name);
    q.extend_from_slice(&[0, 1, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    q.extend_from_slice(&(len + 4).to_be_bytes());
    q.extend_from_slice(&OPT_ECS.to_be_bytes());
    q.extend_from_slice(&len.to_be_bytes());
    q.extend_from_slice(body);
    let client: SocketAddr = "198.51.100.7:5300".parse().expect("fixed address parses");
    let mut out = Vec::new();
    let outcome = answer::answer_at(snapshot(), &q, client, Transport::Udp, NOW, &mut out);
    let reply = message::read(&out);
    let Some(e) = parsed else {
        assert_eq!(outcome.kind, Kind::FormErr, "a refused ECS option answered");
        return;
    };
    assert_eq!(outcome.rcode, 0, "{outcome:?}");
    assert!(outcome.ecs, "ECS not noticed");
    let opts = reply.opt.clone().map(|o| o.2).expect("OPT echoed");
    let echo = message::option(&out, opts, OPT_ECS).expect("ECS echoed");
    assert_eq!(&echo[..3], &body[..3], "family and source prefix echoed");
    assert_eq!(&echo[4..], &body[4..], "address echoed");
    let scope = echo[3];
    assert!(
        scope <= if e.family == 1 { 32 } else { 128 },
        "scope {scope}"
    );
    if !service {
        assert_eq!(scope, 0, "scope of zone data");
    }
    check_reply_is_for(&reply, &out, name);
}

/// The answers of `reply` are owned by `name` (through the question's pointer).
fn check_reply_is_for(reply: &Reply, out: &[u8], name: &[u8]) {
    let q = reply.question.clone().expect("question echoed");
    assert_eq!(&out[q.start..q.start + name.len()], name, "question name");
}

/// The parts of an OPT record `effective_client` reads.
fn edns_of(e: wire::Ecs) -> wire::Edns {
    wire::Edns {
        payload: 1232,
        version: 0,
        flags: 0,
        ecs: Some(e),
        cookie: None,
        nsid: false,
    }
}
