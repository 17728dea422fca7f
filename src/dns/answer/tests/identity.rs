//! NSID (RFC 5001) and CH TXT `id.server.` / `hostname.bind.`: answered with the identity
//! when turned on, as before when off (no NSID option; CH refused).

use super::*;
use crate::dns::identity::Identity;

fn with_identity(nsid: bool, chaos: bool) -> Snapshot {
    let mut s = snapshot();
    s.identity = Identity::new("hq-ns1", nsid, chaos);
    s
}

fn ask(s: &Snapshot, query: &[u8], transport: Transport) -> (Outcome, Vec<u8>) {
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut out = Vec::new();
    let o = answer(s, query, client, transport, &mut out);
    (o, out)
}

/// `q` with its class changed.
fn class(mut p: Vec<u8>, name: &str, class: u16) -> Vec<u8> {
    let at = 12 + name::from_text(name).unwrap().len() + 2;
    p[at..at + 2].copy_from_slice(&class.to_be_bytes());
    p
}

/// The reply's NSID option payload, if any.
fn nsid_of(b: &[u8]) -> Option<Vec<u8>> {
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    let m = msg(b);
    match m.edns?.options().get(EdnsCode::NSID)? {
        EdnsOption::NSID(p) => Some(p.as_ref().to_vec()),
        other => panic!("{other:?}"),
    }
}

const NSID: &[u8] = &[0, 3, 0, 0];

#[test]
fn nsid_answered_only_when_on_and_asked() {
    let on = with_identity(true, false);
    let (o, b) = ask(
        &on,
        &q("www.example.test", 1, Some((0, NSID))),
        Transport::Udp,
    );
    assert_eq!((o.kind, o.rcode), (Kind::Answer, RCODE_NOERROR));
    assert_eq!(nsid_of(&b).as_deref(), Some(&b"hq-ns1"[..]));
    assert_eq!(msg(&b).answers.len(), 1, "the answer itself is unchanged");
    // Not asked: no option.
    let (_, b) = ask(
        &on,
        &q("www.example.test", 1, Some((0, &[]))),
        Transport::Udp,
    );
    assert_eq!(nsid_of(&b), None);
    // Off: the query's option is ignored, and the reply is byte for byte today's.
    let (_, off) = ask(
        &snapshot(),
        &q("www.example.test", 1, Some((0, NSID))),
        Transport::Udp,
    );
    assert_eq!(nsid_of(&off), None);
    let (_, plain) = ask(
        &snapshot(),
        &q("www.example.test", 1, Some((0, &[]))),
        Transport::Udp,
    );
    assert_eq!(off, plain);
}

#[test]
fn nsid_travels_with_cookies_and_negative_answers_over_tcp() {
    let on = with_identity(true, true);
    let mut opts = NSID.to_vec();
    opts.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    let (o, b) = ask(
        &on,
        &q("nope.example.test", 1, Some((0, &opts))),
        Transport::Tcp,
    );
    assert_eq!(o.kind, Kind::NxDomain);
    assert_eq!(nsid_of(&b).as_deref(), Some(&b"hq-ns1"[..]));
    assert_eq!(msg(&b).authorities.len(), 1);
}

#[test]
fn chaos_id_answers_txt_for_both_names() {
    let on = with_identity(false, true);
    for n in ["id.server", "HOSTNAME.bind"] {
        let (o, b) = ask(&on, &class(q(n, 16, None), n, 3), Transport::Udp);
        assert_eq!((o.kind, o.rcode), (Kind::Answer, RCODE_NOERROR), "{n}");
        let m = msg(&b);
        assert!(m.metadata.authoritative, "{n}");
        assert_eq!(m.answers.len(), 1, "{n}");
        let rr = &m.answers[0];
        assert_eq!(u16::from(rr.dns_class), 3, "{n}");
        match &rr.data {
            hickory_proto::rr::RData::TXT(t) => {
                assert_eq!(t.txt_data.len(), 1);
                assert_eq!(&t.txt_data[0][..], b"hq-ns1");
            }
            other => panic!("{n}: {other:?}"),
        }
        assert_eq!(
            rr.name.to_ascii().to_ascii_lowercase(),
            format!("{}.", n.to_ascii_lowercase())
        );
    }
}

#[test]
fn chaos_off_or_other_questions_are_refused_as_before() {
    let off = snapshot();
    let on = with_identity(true, true);
    let cases = [
        (&off, "id.server", 16),
        (&on, "version.bind", 16),
        (&on, "id.server", 1),
        (&on, "www.example.test", 16),
    ];
    for (s, n, t) in cases {
        let (o, b) = ask(s, &class(q(n, t, None), n, 3), Transport::Udp);
        assert_eq!((o.kind, o.rcode), (Kind::Refused, RCODE_REFUSED), "{n} {t}");
        assert!(msg(&b).answers.is_empty());
    }
}
