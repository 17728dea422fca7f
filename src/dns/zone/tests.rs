//! Lookup cases on a hand-built zone: exact, ENT, wildcard (and ENT blocking it),
//! delegation (and DS at the cut), DNAME, longest-match zone selection, load errors.

use std::path::{Path, PathBuf};

use super::*;
use crate::dns::name::from_text;
use crate::dns::zonefile::{ParsedZone, RdataPart, WireName, ZoneRecord};

pub(crate) fn rec(owner: &str, rtype: u16, rdata: Vec<RdataPart>, line: usize) -> ZoneRecord {
    ZoneRecord {
        owner: WireName(from_text(owner).unwrap()),
        ttl: 3600,
        class: 1,
        rtype,
        rdata,
        file: PathBuf::from("t.zone"),
        line,
    }
}

pub(crate) fn name(n: &str) -> RdataPart {
    RdataPart::Name {
        name: WireName(from_text(n).unwrap()),
        compress: true,
    }
}

pub(crate) fn soa() -> Vec<RdataPart> {
    let mut tail = Vec::new();
    for v in [1u32, 7200, 900, 1209600, 300] {
        tail.extend_from_slice(&v.to_be_bytes());
    }
    vec![
        name("ns1.example.test"),
        name("host.example.test"),
        RdataPart::Bytes(tail),
    ]
}

pub(crate) fn a(ip: [u8; 4]) -> Vec<RdataPart> {
    vec![RdataPart::Bytes(ip.to_vec())]
}

pub(crate) fn sample() -> Zone {
    let records = vec![
        rec("example.test", TYPE_SOA, soa(), 1),
        rec("example.test", TYPE_NS, vec![name("ns1.example.test")], 2),
        rec("ns1.example.test", TYPE_A, a([192, 0, 2, 53]), 3),
        rec("www.EXAMPLE.test", TYPE_A, a([192, 0, 2, 80]), 4),
        rec("www.example.test", TYPE_A, a([192, 0, 2, 80]), 5),
        rec("a.b.example.test", TYPE_A, a([192, 0, 2, 100]), 6),
        rec("*.wild.example.test", TYPE_A, a([192, 0, 2, 200]), 7),
        rec("x.y.wild.example.test", TYPE_A, a([192, 0, 2, 201]), 8),
        rec(
            "child.example.test",
            TYPE_NS,
            vec![name("ns.child.example.test")],
            9,
        ),
        rec("ns.child.example.test", TYPE_A, a([192, 0, 2, 150]), 10),
        rec("dn.example.test", TYPE_DNAME, vec![name("other.test")], 11),
    ];
    let parsed = ParsedZone {
        origin: WireName(from_text("example.test").unwrap()),
        records,
    };
    build_zone(&parsed, Path::new("t.zone")).unwrap()
}

fn look<'z>(z: &'z Zone, n: &str, qtype: u16) -> Lookup<'z> {
    z.lookup(&name::lowered(&from_text(n).unwrap()), qtype)
}

fn owner(l: Lookup<'_>) -> String {
    match l {
        Lookup::Found(n) | Lookup::Wildcard(n) | Lookup::Referral(n) | Lookup::Dname(n) => {
            name::to_text(&n.name)
        }
        Lookup::NxDomain => "NX".into(),
    }
}

#[test]
fn exact_ent_and_nxdomain() {
    let z = sample();
    let Lookup::Found(n) = look(&z, "WWW.example.test", TYPE_A) else {
        panic!()
    };
    assert_eq!(
        n.rrset(TYPE_A).unwrap().rdatas.len(),
        1,
        "duplicates are removed"
    );
    let Lookup::Found(ent) = look(&z, "b.example.test", TYPE_A) else {
        panic!()
    };
    assert!(ent.is_empty_non_terminal());
    assert_eq!(look(&z, "nope.example.test", TYPE_A), Lookup::NxDomain);
    assert_eq!(look(&z, "x.a.b.example.test", TYPE_A), Lookup::NxDomain);
    assert_eq!(z.negative_ttl, 300);
}

#[test]
fn wildcards_and_blocking_ents() {
    let z = sample();
    assert!(matches!(
        look(&z, "q.wild.example.test", TYPE_A),
        Lookup::Wildcard(_)
    ));
    assert_eq!(
        owner(look(&z, "q.wild.example.test", TYPE_A)),
        "*.wild.example.test."
    );
    // y.wild exists as an empty non-terminal, so the wildcard does not apply to it...
    assert!(
        matches!(look(&z, "y.wild.example.test", TYPE_A), Lookup::Found(n) if n.is_empty_non_terminal())
    );
    // ...nor to names below it (the closest encloser is y.wild, which has no `*` child).
    assert_eq!(look(&z, "z.y.wild.example.test", TYPE_A), Lookup::NxDomain);
    // A wildcard matches several labels.
    assert!(matches!(
        look(&z, "a.b.wild.example.test", TYPE_A),
        Lookup::Wildcard(_)
    ));
}

#[test]
fn delegations_and_dname() {
    let z = sample();
    assert_eq!(
        owner(look(&z, "child.example.test", TYPE_NS)),
        "child.example.test."
    );
    assert!(matches!(
        look(&z, "child.example.test", TYPE_NS),
        Lookup::Referral(_)
    ));
    assert!(matches!(
        look(&z, "deep.ns.child.example.test", TYPE_A),
        Lookup::Referral(_)
    ));
    assert!(matches!(
        look(&z, "child.example.test", TYPE_DS),
        Lookup::Found(_)
    ));
    assert!(matches!(
        look(&z, "ns.child.example.test", TYPE_DS),
        Lookup::Referral(_)
    ));
    assert!(
        z.exact(&from_text("ns.child.example.test").unwrap())
            .is_some(),
        "glue is kept"
    );
    assert!(matches!(
        look(&z, "x.dn.example.test", TYPE_A),
        Lookup::Dname(_)
    ));
    assert!(matches!(
        look(&z, "dn.example.test", TYPE_DNAME),
        Lookup::Found(_)
    ));
    assert!(!z.apex().cut);
}

#[test]
fn longest_match_zone_selection() {
    let mut set = ZoneSet::default();
    set.insert(sample());
    let child = ParsedZone {
        origin: WireName(from_text("child.example.test").unwrap()),
        records: vec![rec("child.example.test", TYPE_SOA, soa(), 1)],
    };
    set.insert(build_zone(&child, Path::new("c.zone")).unwrap());
    let origin = |n: &str| {
        set.find_any_case(&from_text(n).unwrap())
            .map(|z| name::to_text(&z.origin))
    };
    assert_eq!(origin("www.example.test").as_deref(), Some("example.test."));
    assert_eq!(
        origin("A.Child.example.test").as_deref(),
        Some("child.example.test.")
    );
    assert_eq!(origin("example.test").as_deref(), Some("example.test."));
    assert_eq!(origin("test"), None);
    assert_eq!(origin("xexample.test"), None);
}

#[test]
fn broken_zones_name_file_and_line() {
    let bad = |records: Vec<ZoneRecord>| {
        let p = ParsedZone {
            origin: WireName(from_text("example.test").unwrap()),
            records,
        };
        build_zone(&p, Path::new("t.zone")).unwrap_err().to_string()
    };
    let e = bad(vec![
        rec("example.test", TYPE_SOA, soa(), 1),
        rec("www.other.test", TYPE_A, a([1, 2, 3, 4]), 7),
    ]);
    assert_eq!(
        e,
        "t.zone:7: owner www.other.test. is outside the zone example.test."
    );
    let e = bad(vec![
        rec("example.test", TYPE_SOA, soa(), 1),
        rec(
            "x.example.test",
            TYPE_CNAME,
            vec![name("www.example.test")],
            4,
        ),
        rec("x.example.test", TYPE_A, a([1, 2, 3, 4]), 5),
    ]);
    assert!(e.starts_with("t.zone:4: CNAME and other data"), "{e}");
    let e = bad(vec![rec("www.example.test", TYPE_A, a([1, 2, 3, 4]), 3)]);
    assert!(e.contains("no SOA"), "{e}");
}

#[test]
fn load_zones_keeps_good_zones_and_reports_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("example.test.zone");
    std::fs::write(
        &good,
        "$TTL 60\n@ IN SOA ns1 host 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n",
    )
    .unwrap();
    let broken = dir.path().join("broken.test.zone");
    std::fs::write(&broken, "$TTL 60\nwww IN A 192.0.2.1\n").unwrap();
    let misnamed = dir.path().join("zone.txt");
    std::fs::write(&misnamed, "").unwrap();
    let (set, errors) = load_zones(&[good, broken, misnamed]);
    assert_eq!(set.len(), 1);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].to_string().contains("broken.test.zone"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].to_string().contains("<origin>.zone"),
        "{}",
        errors[1]
    );
    assert!(
        set.find_any_case(&from_text("ns1.example.test").unwrap())
            .is_some()
    );
}

#[test]
fn an_rrset_over_64_kb_is_refused_with_its_first_line() {
    // 300 TXT records of 250 bytes: about 78 KB in an answer.
    let mut text = String::from("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
    for i in 0..300 {
        text.push_str(&format!("big TXT \"{i:03}{}\"\n", "x".repeat(247)));
    }
    let origin = crate::dns::zonefile::WireName::from_ascii("t.test.", &WireName::root()).unwrap();
    let parsed = crate::dns::zonefile::parse_str(&text, Path::new("t.test.zone"), &origin).unwrap();
    let e = build_zone(&parsed, Path::new("t.test.zone"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("t.test.zone:5: this RRset"), "{e}");
    assert!(e.contains("over 65535 bytes"), "{e}");
    // 200 of them (about 52 KB) load.
    let cut: String = text.lines().take(204).map(|l| format!("{l}\n")).collect();
    let parsed = crate::dns::zonefile::parse_str(&cut, Path::new("t.test.zone"), &origin).unwrap();
    assert!(build_zone(&parsed, Path::new("t.test.zone")).is_ok());
}
