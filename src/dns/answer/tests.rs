//! Answer-core cases on hand-made query bytes, responses read back with hickory-proto.

use std::net::SocketAddr;

use hickory_proto::op::Message;

use super::*;
use crate::dns::zone::ZoneSet;

fn snapshot() -> Snapshot {
    let mut set = ZoneSet::default();
    set.insert(crate::dns::zone::tests::sample());
    Snapshot::new(set, 1232)
}

fn q(name: &str, qtype: u16, edns: Option<(u8, &[u8])>) -> Vec<u8> {
    let mut p = vec![
        0xAB,
        0xCD,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns.is_some()),
    ];
    p.extend(name::from_text(name).unwrap());
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    if let Some((version, opts)) = edns {
        p.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, version, 0, 0]);
        p.extend_from_slice(&(opts.len() as u16).to_be_bytes());
        p.extend_from_slice(opts);
    }
    p
}

fn run(query: &[u8]) -> (Outcome, Vec<u8>) {
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut out = Vec::new();
    let o = answer(&snapshot(), query, client, Transport::Udp, &mut out);
    (o, out)
}

fn msg(b: &[u8]) -> Message {
    Message::from_vec(b).unwrap()
}

#[test]
fn positive_answer_is_authoritative_and_keeps_question_case() {
    let (o, b) = run(&q("WwW.Example.test", 1, None));
    assert_eq!((o.kind, o.rcode), (Kind::Answer, RCODE_NOERROR));
    assert_eq!(&b[..4], &[0xAB, 0xCD, 0x85, 0x00], "QR AA RD, RA clear");
    assert_eq!(
        &b[12..30],
        &name::from_text("WwW.Example.test").unwrap()[..]
    );
    let m = msg(&b);
    assert_eq!(m.answers.len(), 1);
    assert!(m.authorities.is_empty() && m.edns.is_none());
}

#[test]
fn negative_answers_carry_soa_with_minimum_ttl() {
    let (o, b) = run(&q("nope.example.test", 1, None));
    assert_eq!((o.kind, o.rcode), (Kind::NxDomain, RCODE_NXDOMAIN));
    let m = msg(&b);
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].ttl, 300);
    let (o, b) = run(&q("b.example.test", 1, None));
    assert_eq!((o.kind, o.rcode), (Kind::NoData, RCODE_NOERROR));
    assert_eq!(msg(&b).authorities.len(), 1);
    // An empty non-terminal blocks the wildcard above it.
    assert_eq!(run(&q("y.wild.example.test", 1, None)).0.kind, Kind::NoData);
    assert_eq!(run(&q("q.wild.example.test", 1, None)).0.kind, Kind::Answer);
}

#[test]
fn referral_clears_aa_and_adds_glue() {
    let (o, b) = run(&q("www.child.example.test", 1, None));
    assert_eq!(o.kind, Kind::Referral);
    assert_eq!(b[2] & 0x04, 0, "AA clear");
    let m = msg(&b);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.additionals.len(), 1, "glue A for ns.child");
}

#[test]
fn refused_badvers_notimp_formerr() {
    let (o, b) = run(&q("www.elsewhere.test", 1, None));
    assert_eq!((o.kind, b[3] & 0x0F, b[2] & 0x04), (Kind::Refused, 5, 0));
    let (o, b) = run(&q("www.example.test", 1, Some((1, &[]))));
    assert_eq!(o.rcode, RCODE_BADVERS);
    assert_eq!(msg(&b).edns.unwrap().rcode_high(), 1);
    let mut notimp = q("www.example.test", 1, None);
    notimp[2] |= 2 << 3;
    let (o, b) = run(&notimp);
    assert_eq!((o.kind, b.len()), (Kind::NotImp, 12));
    let (o, b) = run(&q(
        "www.example.test",
        1,
        Some((0, &[0, 8, 0, 5, 0, 1, 8, 0, 10, 1])),
    ));
    assert_eq!((o.kind, b[3] & 0x0F), (Kind::FormErr, 1));
    assert_eq!(
        u16::from_be_bytes([b[10], b[11]]),
        0,
        "a malformed OPT is not echoed"
    );
    let mut two = q("www.example.test", 1, Some((0, &[])));
    two[11] = 2;
    two.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    let (o, b) = run(&two);
    assert_eq!(o.kind, Kind::FormErr);
    assert_eq!(
        u16::from_be_bytes([b[10], b[11]]),
        1,
        "the first, good OPT is echoed"
    );
    let (o, b) = run(&q("www.example.test", 1, None)[..20]);
    assert_eq!((o.kind, b.len()), (Kind::FormErr, 12));
}

#[test]
fn ecs_is_echoed_with_scope_zero() {
    let ecs = [0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100];
    let (_, b) = run(&q("www.example.test", 1, Some((0, &ecs))));
    let tail = &b[b.len() - ecs.len()..];
    assert_eq!(tail, &[0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100]);
}

#[test]
fn udp_truncation_keeps_whole_rrsets() {
    use crate::dns::zone::tests::{a, rec, soa};
    use crate::dns::zone::{TYPE_A, TYPE_SOA, build_zone};
    use crate::dns::zonefile::{ParsedZone, WireName};
    let mut records = vec![rec("big.test", TYPE_SOA, soa(), 1)];
    for i in 0..40u8 {
        records.push(rec("many.big.test", TYPE_A, a([10, 0, 0, i]), 2));
    }
    let parsed = ParsedZone {
        origin: WireName(name::from_text("big.test").unwrap()),
        records,
    };
    let mut set = ZoneSet::default();
    set.insert(build_zone(&parsed, std::path::Path::new("big.test.zone")).unwrap());
    let snap = Snapshot::new(set, 1232);
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut out = Vec::new();
    // 40 A records take 40 * 16 bytes: more than 512, less than 1232.
    let o = answer(
        &snap,
        &q("many.big.test", 1, None),
        client,
        Transport::Udp,
        &mut out,
    );
    assert!(o.truncated && out.len() <= 512);
    let m = msg(&out);
    assert!(
        m.metadata.truncation && m.answers.is_empty(),
        "a truncated RRset is left out whole"
    );
    let o = answer(
        &snap,
        &q("many.big.test", 1, Some((0, &[]))),
        client,
        Transport::Udp,
        &mut out,
    );
    assert!(
        !o.truncated,
        "fits in the EDNS payload of 4096 capped to 1232"
    );
    assert_eq!(msg(&out).answers.len(), 40);
    let o = answer(
        &snap,
        &q("many.big.test", 1, None),
        client,
        Transport::Tcp,
        &mut out,
    );
    assert!(!o.truncated);
    assert_eq!(msg(&out).answers.len(), 40);
}

/// A snapshot with one service: ISP `a` (198.51.100.0/25) gets an IPv4-only link, everyone
/// else the default link with both families.
fn service_snapshot() -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.test.zone"),
        "$ORIGIN t.test.\n$TTL 300\n@ IN SOA ns h 1 2 3 4 60\n  IN NS ns\nns IN A 192.0.2.53\n",
    )
    .unwrap();
    let text = r#"
        [server]
        listen = ["127.0.0.1:0"]
        zones = ["t.test.zone"]
        [isp.a]
        cidrs = ["198.51.100.0/25"]
        [site.one]
        links = { a = ["192.0.2.1"], default = ["192.0.2.2", "2001:db8::2"] }
        [service.www]
        name = "www.t.test"
        sites = ["one"]
    "#;
    let cfg = crate::config::parse(text, &dir.path().join("m.toml")).unwrap();
    let (snap, errors) = crate::serve::build_snapshot(&cfg, None, None).unwrap();
    assert!(errors.is_empty());
    snap
}

/// The ECS option echoed in a reply (it is the last thing written).
fn scope_of(reply: &[u8], ecs: &[u8]) -> u8 {
    let tail = &reply[reply.len() - ecs.len()..];
    assert_eq!(&tail[..7], &ecs[..7]);
    assert_eq!(&tail[8..], &ecs[8..]);
    tail[7]
}

fn service_run(snap: &Snapshot, qtype: u16, ecs: &[u8]) -> (Outcome, u8) {
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut out = Vec::new();
    let o = answer(
        snap,
        &q("www.t.test", qtype, Some((0, ecs))),
        client,
        Transport::Udp,
        &mut out,
    );
    (o, scope_of(&out, ecs))
}

/// A NODATA that depends on the client holds over the plan's block, like an answer would:
/// here ISP a's clients get NODATA for AAAA (link a has no IPv6), everyone else an address.
#[test]
fn service_nodata_has_the_scope_it_holds_over() {
    let snap = service_snapshot();
    let ecs = [0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100];
    let (o, scope) = service_run(&snap, 1, &ecs);
    assert_eq!((o.kind, scope), (Kind::Service, 25), "ISP a ends at /25");
    let (o, scope) = service_run(&snap, 28, &ecs);
    assert_eq!((o.kind, scope), (Kind::NoData, 25), "link a has no IPv6");
    let other = [0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 101];
    let (o, _) = service_run(&snap, 28, &other);
    assert_eq!(o.kind, Kind::Service, "the default link has IPv6");
}

#[test]
fn unused_private_ecs_gets_the_private_block_as_scope() {
    let snap = service_snapshot();
    let cases: [(&[u8], u8); 6] = [
        (&[0, 8, 0, 7, 0, 1, 24, 0, 10, 1, 2], 8),
        (&[0, 8, 0, 7, 0, 1, 24, 0, 172, 31, 9], 12),
        (&[0, 8, 0, 7, 0, 1, 24, 0, 192, 168, 7], 16),
        (&[0, 8, 0, 6, 0, 1, 16, 0, 169, 254], 16),
        (&[0, 8, 0, 6, 0, 2, 16, 0, 0xfd, 0], 7),
        (&[0, 8, 0, 4, 0, 1, 0, 0], 0),
    ];
    for (ecs, want) in cases {
        let (o, scope) = service_run(&snap, 1, ecs);
        assert_eq!((o.kind, scope), (Kind::Service, want), "{ecs:?}");
    }
}

mod identity;
mod robust;

/// The reply's OPT with both ECS and COOKIE, read back option by option; BADVERS carries the
/// cookie too; without a secret the cookie is not answered; the slipped reply is BADCOOKIE.
#[test]
fn cookies_in_the_opt_record() {
    use crate::dns::cookie::{CookieSecret, Verdict};
    let mut snap = snapshot();
    snap.cookie_secret = Some(CookieSecret::from_bytes([5; 16]));
    let client: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let mut opts = vec![0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100];
    opts.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    let query = q("www.example.test", 1, Some((0, &opts)));
    let mut out = Vec::new();
    let o = answer_at(
        &snap,
        &query,
        client,
        Transport::Udp,
        1_700_000_000,
        &mut out,
    );
    assert_eq!((o.rcode, o.cookie), (0, Some(Verdict::ClientOnly)));
    let m = msg(&out);
    let edns = m.edns.as_ref().unwrap();
    let cookie = edns
        .options()
        .as_ref()
        .iter()
        .find_map(|(code, opt)| match (u16::from(*code), opt) {
            (10, hickory_proto::rr::rdata::opt::EdnsOption::Unknown(_, v)) => Some(v.clone()),
            _ => None,
        })
        .expect("a COOKIE option");
    assert_eq!(cookie.len(), 24);
    assert_eq!(cookie[..8], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(cookie[8..12], [1, 0, 0, 0], "version 1, reserved");
    assert!(
        edns.options()
            .as_ref()
            .iter()
            .any(|(c, _)| u16::from(*c) == 8)
    );
    // Sent back, it is valid and echoed.
    let mut back = vec![0, 10, 0, 24];
    back.extend_from_slice(&cookie);
    let query = q("www.example.test", 1, Some((0, &back)));
    let o = answer_at(
        &snap,
        &query,
        client,
        Transport::Udp,
        1_700_000_100,
        &mut out,
    );
    assert_eq!(o.cookie, Some(Verdict::Valid));
    assert!(out.windows(24).any(|w| w == &cookie[..]));
    // BADVERS still answers the cookie.
    let query = q("www.example.test", 1, Some((1, &back)));
    let o = answer_at(
        &snap,
        &query,
        client,
        Transport::Udp,
        1_700_000_100,
        &mut out,
    );
    assert_eq!((o.kind, o.cookie), (Kind::BadVers, Some(Verdict::Valid)));
    assert!(out.windows(24).any(|w| w == &cookie[..]));
    // The slipped reply to a client cookie: BADCOOKIE (23 = header 7, extended 1), no TC.
    let query = q("www.example.test", 1, Some((0, &opts)));
    let rcode = limited_reply(&snap, &query, client, 1_700_000_000, 0, &mut out);
    assert_eq!(rcode, 23);
    let m = msg(&out);
    assert_eq!((out[3] & 0x0f, out[2] & 0x02), (7, 0));
    assert_eq!(u16::from(m.edns.as_ref().unwrap().rcode_high()), 1);
    assert!(m.answers.is_empty() && out.len() < query.len() + 40);
    // And to a query without a cookie: TC, the answer's RCODE, the question only.
    let plain = q("www.example.test", 1, None);
    assert_eq!(limited_reply(&snap, &plain, client, 0, 3, &mut out), 3);
    assert_eq!((out[2] & 0x02, out[3] & 0x0f), (0x02, 3));
    assert_eq!(out.len(), plain.len());
    // Without a secret, no cookie is answered.
    let o = answer_at(&snapshot(), &query, client, Transport::Udp, 0, &mut out);
    assert_eq!(o.cookie, None);
    assert!(!out.windows(4).any(|w| w == [0, 10, 0, 24]));
}
