//! Garbage never panics, and whatever parses keeps its invariants (one SOA at the apex,
//! owners in the zone, RDATA text reads back to the same bytes); a 100 000-record zone parses
//! whole (its speed: `bench/zone-load.sh`).

use super::*;
use crate::test_rng::Rng;

const VOCAB: &[&str] = &[
    "@",
    "www",
    "sub.www",
    "*",
    "abs.example.test.",
    "other.",
    "60",
    "1h30m",
    "IN",
    "CLASS1",
    "CH",
    "A",
    "AAAA",
    "NS",
    "CNAME",
    "SOA",
    "MX",
    "TXT",
    "SRV",
    "PTR",
    "CAA",
    "NAPTR",
    "DNAME",
    "HINFO",
    "TYPE65280",
    "TYPE1",
    "\\#",
    "0",
    "4",
    "10",
    "65535",
    "65536",
    "c0000201",
    "0a",
    "192.0.2.1",
    "::1",
    "2001:db8::1",
    "\"x y\"",
    "\"\"",
    "\"\\\"\"",
    "issue",
    "ns1",
    "hostmaster",
    "(",
    ")",
    ";c",
    "\n",
    "\n ",
    "\n\t",
    "$TTL",
    "$ORIGIN",
    "$INCLUDE",
    "\\065",
    "a\\.b",
    "\\",
    "\"",
    ".",
    "..",
    "1 2 3 4 5",
];

fn zone_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("fuzz.zone")
}

/// Parses and, when the input is accepted, checks the invariants.
fn exercise(text: &[u8], path: &Path) {
    let Ok(zone) = parse_bytes(text, path, &origin()) else {
        return;
    };
    let soas = zone
        .records
        .iter()
        .filter(|r| r.rtype == rtype::SOA)
        .count();
    assert_eq!(soas, 1, "{}", String::from_utf8_lossy(text));
    for r in &zone.records {
        assert!(r.owner.is_subdomain_of(&zone.origin));
        assert_eq!(r.class, 1);
        let text_form = rdata_to_text(r.rtype, &r.rdata);
        let again = parse_str(
            &format!("{SOA}x 60 {} {text_form}\n", type_to_text(r.rtype)),
            path,
            &origin(),
        );
        // The SOA cannot be repeated; every other type must read back identically.
        if r.rtype != rtype::SOA {
            let again = again.unwrap_or_else(|e| panic!("{text_form}: {e}"));
            assert_eq!(
                rdata_to_wire(&again.records[1].rdata),
                rdata_to_wire(&r.rdata),
                "{text_form}"
            );
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = zone_path(&dir);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"abc019 .;()\"\\\n\t@$#*-:\r";
    for _ in 0..3000 {
        let len = rng.below(120);
        let text: Vec<u8> = (0..len)
            .map(|_| {
                if rng.below(8) == 0 {
                    rng.next() as u8
                } else {
                    alphabet[rng.below(alphabet.len())]
                }
            })
            .collect();
        exercise(&text, &path);
    }
}

#[test]
fn token_soup_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = zone_path(&dir);
    let mut rng = Rng(42);
    let mut accepted = 0;
    for _ in 0..4000 {
        let mut text = if rng.below(4) == 0 {
            String::new()
        } else {
            SOA.to_string()
        };
        for _ in 0..rng.below(25) {
            text.push_str(VOCAB[rng.below(VOCAB.len())]);
            text.push(' ');
        }
        text.push('\n');
        if parse(&text).is_ok() {
            accepted += 1;
        }
        exercise(text.as_bytes(), &path);
    }
    // The soup must reach the accepting paths too, or the invariants are never checked.
    assert!(accepted > 20, "only {accepted} inputs accepted");
}

#[test]
fn mutated_valid_zone_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = zone_path(&dir);
    let base = format!(
        "$TTL 1h\n{SOA}@ NS ns1\nns1 A 192.0.2.1\n AAAA 2001:db8::1\nwww CNAME ns1\n\
         @ MX 10 mail\nmail A 192.0.2.2\n_sip._udp SRV 1 2 5060 sip\n@ TXT \"a b\" c\n\
         @ CAA 0 issue \"ca.example.net\"\n@ NAPTR 1 2 \"U\" \"E2U+sip\" \"!x!y!\" .\n\
         d DNAME x.test.\ng TYPE65280 \\# 2 abcd\nh HINFO ( \"PC\"\n \"os\" )\n"
    );
    exercise(base.as_bytes(), &path);
    assert!(parse(&base).is_ok());
    let mut rng = Rng(7);
    for _ in 0..3000 {
        let mut text = base.as_bytes().to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(text.len());
            match rng.below(3) {
                0 => text[at] = rng.next() as u8,
                1 => {
                    text.remove(at);
                }
                _ => text.insert(at, b"\\\"();. \n0aZ"[rng.below(11)]),
            }
        }
        exercise(&text, &path);
    }
}

/// A large zone of every common type parses whole. (How fast: `bench/zone-load.sh`.)
#[test]
fn parses_100k_records() {
    let mut text = format!("$TTL 300\n{SOA}");
    for i in 0..100_000u32 {
        let b = i.to_be_bytes();
        let line = match i % 5 {
            0 => format!("h{i} A 10.{}.{}.{}\n", b[1], b[2], b[3]),
            1 => format!("h{i} AAAA 2001:db8::{:x}:{:x}\n", i >> 16, i & 0xffff),
            2 => format!("h{i} MX 10 mail{i}.example.test.\n"),
            3 => format!("h{i} TXT \"v=spf1 ip4:10.0.0.{} -all\" \"x\"\n", b[3]),
            _ => format!("h{i} 60 IN CNAME h{}\n", i - 1),
        };
        text.push_str(&line);
    }
    let zone = parse(&text).unwrap();
    assert_eq!(zone.records.len(), 100_001);
    let cnames = zone.records.iter().filter(|r| r.rtype == 5).count();
    assert_eq!(cnames, 20_000);
    let last = &zone.records[100_000];
    assert_eq!(last.ttl, 60);
}
