//! Tests of the zone-file reader through its public API: features here, RDATA wire bytes in
//! `tests/wire.rs`, one test per error in `tests/errors.rs`, `$INCLUDE` in
//! `tests/include.rs`, garbage input and speed in `tests/robust.rs`, NSD as the oracle in
//! `tests/nsd.rs`.

mod errors;
mod hostile;
mod include;
mod nsd;
mod robust;
mod wire;

use std::path::Path;

use super::*;

/// An SOA line valid in every test zone (TTL 3600, minimum 300).
pub(super) const SOA: &str = "@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n";

pub(super) fn origin() -> WireName {
    WireName::from_ascii("example.test.", &WireName::root()).unwrap()
}

pub(super) fn name(s: &str) -> WireName {
    WireName::from_ascii(s, &origin()).unwrap()
}

pub(super) fn parse(text: &str) -> Result<ParsedZone, ZoneFileError> {
    parse_str(text, Path::new("t.zone"), &origin())
}

pub(super) fn ok(text: &str) -> ParsedZone {
    parse(text).unwrap_or_else(|e| panic!("{e}\n--- zone:\n{text}"))
}

pub(super) fn err(text: &str) -> ZoneFileError {
    match parse(text) {
        Ok(z) => panic!(
            "expected an error, got {} records\n--- zone:\n{text}",
            z.records.len()
        ),
        Err(e) => e,
    }
}

/// Asserts an error at `line` whose reason contains `needle`.
pub(super) fn err_at(text: &str, line: usize, needle: &str) -> ZoneFileError {
    let e = err(text);
    assert_eq!(e.line, line, "wrong line for {e}");
    assert!(
        e.reason.contains(needle),
        "reason {:?} lacks {needle:?}",
        e.reason
    );
    e
}

/// The records of `SOA + text` other than the SOA.
pub(super) fn rrs(text: &str) -> Vec<ZoneRecord> {
    ok(&format!("{SOA}{text}"))
        .records
        .into_iter()
        .filter(|r| r.rtype != rtype::SOA)
        .collect()
}

pub(super) fn one(text: &str) -> ZoneRecord {
    let mut all = rrs(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn soa_and_defaults() {
    let z = ok(SOA);
    assert_eq!(z.origin, origin());
    let soa = z.soa().unwrap();
    assert_eq!(soa.owner, origin());
    assert_eq!((soa.ttl, soa.class, soa.rtype, soa.line), (3600, 1, 6, 1));
    assert_eq!(soa.file, Path::new("t.zone"));
    assert_eq!(z.soa_minimum(), Some(300));
    assert_eq!(
        rdata_to_text(soa.rtype, &soa.rdata),
        "ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300"
    );
}

#[test]
fn origin_directive_and_names() {
    let r = rrs(
        "$ORIGIN sub\nwww 60 A 192.0.2.1\n@ 60 A 192.0.2.2\nabs.example.test. 60 A 192.0.2.3\n$ORIGIN example.test.\nx 60 A 192.0.2.4\n",
    );
    let owners: Vec<String> = r.iter().map(|r| r.owner.to_ascii()).collect();
    assert_eq!(
        owners,
        [
            "www.sub.example.test.",
            "sub.example.test.",
            "abs.example.test.",
            "x.example.test."
        ]
    );
    // Case is kept as written.
    assert_eq!(
        one("WwW 60 A 192.0.2.1").owner.to_ascii(),
        "WwW.example.test."
    );
    // Wildcards are ordinary owners.
    assert_eq!(one("* 60 A 192.0.2.1").owner.label_count(), 3);
}

#[test]
fn ttl_class_type_in_any_order() {
    for line in [
        "www 300 IN A 192.0.2.1",
        "www IN 300 A 192.0.2.1",
        "www 5m CLASS1 a 192.0.2.1",
        "www class1 5M TYPE1 192.0.2.1",
        "www in 300 type1 \\# 4 c0000201",
    ] {
        let r = one(line);
        assert_eq!((r.ttl, r.class, r.rtype), (300, 1, 1), "{line}");
        assert_eq!(rdata_to_wire(&r.rdata), [192, 0, 2, 1], "{line}");
    }
}

#[test]
fn ttl_units_and_dollar_ttl() {
    let z = ok(&format!(
        "$TTL 1h30m\n{SOA}a A 192.0.2.1\n$TTL 1w2d3h4m5s\nb A 192.0.2.2\n$TTL 90\nc 10 A 192.0.2.3\nd A 192.0.2.4\n$TTL 1H30\ne A 192.0.2.5\n"
    ));
    let ttl = |n: &str| z.records.iter().find(|r| r.owner == name(n)).unwrap().ttl;
    assert_eq!(ttl("a"), 5400);
    assert_eq!(ttl("b"), 7 * 86400 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
    assert_eq!(ttl("c"), 10);
    // $TTL wins over the last explicit TTL.
    assert_eq!(ttl("d"), 90);
    assert_eq!(ttl("e"), 3630);
}

#[test]
fn ttl_without_dollar_ttl_follows_bind() {
    // No $TTL and no TTL on the SOA: the SOA minimum, also for what follows.
    let z = ok("@ SOA ns1 hostmaster 1 2 3 4 77\na A 192.0.2.1\n");
    assert!(z.records.iter().all(|r| r.ttl == 77), "{:?}", z.records);
    // An explicit TTL is inherited by later records (RFC 1035 s5.1).
    let z =
        ok("@ 500 SOA ns1 hostmaster 1 2 3 4 77\na A 192.0.2.1\nb 20 A 192.0.2.2\nc A 192.0.2.3\n");
    let ttls: Vec<u32> = z.records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [500, 500, 20, 20]);
    // Nothing to inherit before the SOA: an error.
    err_at(
        "a A 192.0.2.1\n@ SOA ns1 hostmaster 1 2 3 4 77\n",
        1,
        "no TTL",
    );
}

#[test]
fn blank_owner_parentheses_comments() {
    let z = ok(
        "$TTL 60\n@ IN SOA ns1 hostmaster ( ; the SOA\n  2024010101 ; serial\n  2h 1h 2w\n  5m )\n\tNS ns1\n  NS ns2\nwww A 192.0.2.1 ; web\n    AAAA 2001:db8::1\n\n; end\n",
    );
    let summary: Vec<(String, u16, usize)> = z
        .records
        .iter()
        .map(|r| (r.owner.to_ascii(), r.rtype, r.line))
        .collect();
    assert_eq!(
        summary,
        [
            ("example.test.".to_string(), 6, 2),
            ("example.test.".to_string(), 2, 6),
            ("example.test.".to_string(), 2, 7),
            ("www.example.test.".to_string(), 1, 8),
            ("www.example.test.".to_string(), 28, 9),
        ]
    );
    assert_eq!(
        rdata_to_text(6, &z.records[0].rdata),
        "ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300"
    );
}

#[test]
fn quoted_strings_and_escapes() {
    let r = one(r#"t 60 TXT "say \"hi\"; (ok)" \065\066C "tab\009end" back\\slash"#);
    assert_eq!(
        rdata_to_wire(&r.rdata),
        b"\x0esay \"hi\"; (ok)\x03ABC\x07tab\tend\x0aback\\slash"
    );
    assert_eq!(
        rdata_to_text(r.rtype, &r.rdata),
        r#""say \"hi\"; (ok)" "ABC" "tab\009end" "back\\slash""#
    );
    // Escapes in owner names: a dot inside a label.
    let r = one(r"a\.b 60 A 192.0.2.1");
    assert_eq!(r.owner.0, b"\x03a.b\x07example\x04test\x00");
    assert_eq!(r.owner.label_count(), 3);
}

#[test]
fn duplicates_dropped_and_rrset_ttls_aligned() {
    let r =
        rrs("a 60 A 192.0.2.1\nA 60 A 192.0.2.1\na 30 A 192.0.2.2\nb 60 NS ns.x.\nb 60 NS NS.X.\n");
    let summary: Vec<(usize, u32)> = r.iter().map(|r| (r.line, r.ttl)).collect();
    assert_eq!(summary, [(2, 60), (4, 60), (5, 60)]);
}

#[test]
fn generic_type_and_known_type_in_generic_form() {
    let r = one("x 60 TYPE65280 \\# 5 01 02030405");
    assert_eq!(r.rtype, 65280);
    assert_eq!(r.rdata, [RdataPart::Bytes(vec![1, 2, 3, 4, 5])]);
    assert_eq!(rdata_to_text(65280, &r.rdata), "\\# 5 0102030405");
    let r = one("x 60 TYPE65280 \\# 0");
    assert!(r.rdata.is_empty());
    assert_eq!(rdata_to_text(65280, &r.rdata), "\\# 0");
    // A known type written generically gets its names split out for compression.
    let r = one("x 60 MX \\# 8 000a 04 6d61696c 00");
    assert_eq!(
        r.rdata,
        [
            RdataPart::Bytes(vec![0, 10]),
            RdataPart::Name {
                name: WireName::from_ascii("mail.", &WireName::root()).unwrap(),
                compress: true
            }
        ]
    );
    // Known mnemonics without a parser here, in generic form.
    let r = one("x 60 ds \\# 4 deadbeef");
    assert_eq!(r.rtype, 43);
    assert_eq!(rdata_to_text(43, &r.rdata), "\\# 4 deadbeef");
}

#[test]
fn parse_file_reads_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.test.zone");
    std::fs::write(&path, format!("{SOA}www 60 A 192.0.2.1\n")).unwrap();
    let z = parse_file(&path, &origin()).unwrap();
    assert_eq!(z.records.len(), 2);
    assert_eq!(z.records[1].file, path);
    let e = parse_file(&dir.path().join("missing.zone"), &origin()).unwrap_err();
    assert!(e.reason.contains("cannot read zone file"), "{e}");
    assert!(e.to_string().starts_with(&format!(
        "{}:0: ",
        dir.path().join("missing.zone").display()
    )));
}

#[test]
fn error_display_is_file_line_reason() {
    let e = err("www 60 A 1.2.3.4\n");
    assert_eq!(
        e.to_string(),
        "t.zone:1: missing SOA record at the zone apex example.test."
    );
}
