//! Steering over real sockets, beyond the answer tables of `geo_answers`: the degraded TTL
//! of `weighted` follows the client's own top-ranked site, an `all` answer holds every
//! address (TC over UDP when they do not fit, all of them over TCP), and the additional
//! section never hands out a zone's static address for a name bound to a service.

#![allow(clippy::disallowed_methods)] // a test harness waits on wall time

#[path = "support/dnsclient.rs"]
mod dnsclient;
#[path = "support/geo.rs"]
mod geo;

use std::net::IpAddr;

use dnsclient::{Proto, exchange, query};
use geo::*;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};

/// The answer addresses and their TTLs (one TTL per answer) of a reply.
fn addrs_ttl(resp: &[u8]) -> (Vec<IpAddr>, Vec<u32>) {
    let m = Message::from_vec(resp).unwrap();
    let mut out = Vec::new();
    let mut ttls = Vec::new();
    for r in &m.answers {
        match &r.data {
            RData::A(a) => out.push(IpAddr::V4(a.0)),
            RData::AAAA(a) => out.push(IpAddr::V6(a.0)),
            _ => continue,
        }
        ttls.push(r.ttl);
    }
    ttls.dedup();
    (out, ttls)
}

/// 300 client /56s of one `weighted` plan (wts, 2001:db8:8000::/33, DE, hq 3 : dr 1): with
/// hq down, exactly the clients whose answer was hq move (to dr, with `ttl_degraded` 10);
/// dr's clients keep dr and the full TTL 45.
#[test]
fn weighted_top_site_down_gets_the_degraded_ttl() {
    let base = start(&[]);
    let down = start(&["overrides-some.toml"]);
    let (hq, dr) = (ip(HQ_D6), ip(DR_D6));
    let (mut moved, mut kept) = (0, 0);
    for i in 0..300u32 {
        let net = ip(&format!(
            "2001:db8:{:x}:{:x}00::",
            0x8000 + i / 256,
            i % 256
        ));
        let ecs = dnsclient::ecs_body(net, 56);
        let q = query(7, WTS, RecordType::AAAA, Some(&ecs));
        let (before, t0) = addrs_ttl(&exchange(Proto::Udp, ip("127.0.0.1"), base.addr, &q));
        let (after, t1) = addrs_ttl(&exchange(Proto::Udp, ip("127.0.0.1"), down.addr, &q));
        assert_eq!(t0, [45], "/56 {i}: all up is everyone's first choice");
        assert_eq!(after, [dr], "/56 {i}");
        if before == [hq] {
            assert_eq!(t1, [10], "/56 {i} moved from hq");
            moved += 1;
        } else {
            assert_eq!(before, [dr], "/56 {i}");
            assert_eq!(t1, [45], "/56 {i} kept dr");
            kept += 1;
        }
    }
    // weights 3:1 over 300 prefixes
    assert!((195..=255).contains(&moved), "moved {moved}, kept {kept}");
}

/// A query without EDNS (512-byte UDP limit).
fn plain_query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(9, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

#[test]
fn an_all_answer_holds_every_address() {
    let srv = start(&[]);
    let want: Vec<IpAddr> = (1..=40).map(|i| ip(&format!("198.18.0.{i}"))).collect();
    let sorted = |mut v: Vec<IpAddr>| {
        v.sort();
        v
    };
    // EDNS 1232: 40 A records (about 650 bytes) fit in one UDP reply.
    let q = query(1, "farm.geo.test.", RecordType::A, None);
    for proto in [Proto::Udp, Proto::Tcp] {
        let (got, ttl) = addrs_ttl(&exchange(proto, ip("127.0.0.1"), srv.addr, &q));
        assert_eq!(sorted(got), want, "{proto:?}");
        assert_eq!(ttl, [30]);
    }
    // No EDNS: 512 bytes cannot hold them; the whole set or TC, never a cut set.
    let q = plain_query("farm.geo.test.", RecordType::A);
    let resp = exchange(Proto::Udp, ip("127.0.0.1"), srv.addr, &q);
    let m = Message::from_vec(&resp).unwrap();
    assert!(m.metadata.truncation, "TC over UDP");
    assert!(m.answers.is_empty(), "{:?}", m.answers);
    let (got, _) = addrs_ttl(&exchange(Proto::Tcp, ip("127.0.0.1"), srv.addr, &q));
    assert_eq!(sorted(got), want, "TCP");
}

#[test]
fn the_additional_section_leaves_out_service_names() {
    let srv = start(&[]);
    let ecs = dnsclient::ecs_body(ip("198.51.100.0"), 24);
    for proto in [Proto::Udp, Proto::Tcp] {
        // mx.geo.test MX 10 www.geo.test: www is a service, and the zone's static
        // 192.0.2.111 there must not be handed out; no address for it at all.
        let resp = exchange(
            proto,
            ip("127.1.0.1"),
            srv.addr,
            &query(3, "mx.geo.test.", RecordType::MX, Some(&ecs)),
        );
        let m = Message::from_vec(&resp).unwrap();
        assert_eq!(m.answers.len(), 1, "{proto:?}");
        assert_eq!(m.answers[0].data.to_string(), "10 www.geo.test.");
        assert!(
            m.additionals
                .iter()
                .all(|r| !matches!(r.data, RData::A(_) | RData::AAAA(_))),
            "{proto:?}: {:?}",
            m.additionals
        );
        // An exchange that is not a service still gets its address.
        let resp = exchange(
            proto,
            ip("127.1.0.1"),
            srv.addr,
            &query(4, WWW, RecordType::MX, Some(&ecs)),
        );
        let m = Message::from_vec(&resp).unwrap();
        assert!(
            m.additionals
                .iter()
                .any(|r| r.data.to_string() == "192.0.2.25"),
            "{proto:?}: {:?}",
            m.additionals
        );
        // And the service name itself answers from the policy, not the zone.
        let (got, _) = addrs_ttl(&exchange(
            proto,
            ip("127.1.0.1"),
            srv.addr,
            &query(5, WWW, RecordType::A, None),
        ));
        assert_eq!(got, [ip(HQ_T)], "{proto:?}");
    }
}
