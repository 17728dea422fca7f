//! Wire bytes of every supported type, written out by hand from the RFCs, plus the
//! presentation form read back by `rdata_to_text`.

use super::*;

/// `label.example.test.` in wire form.
fn n(label: &[u8]) -> Vec<u8> {
    let mut w = vec![label.len() as u8];
    w.extend_from_slice(label);
    w.extend_from_slice(b"\x07example\x04test\x00");
    w
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Parses one record, checks its type, wire bytes and presentation text.
fn check(line: &str, rtype: u16, wire: &[u8], text: &str) -> ZoneRecord {
    let r = one(line);
    assert_eq!(r.rtype, rtype, "{line}");
    assert_eq!(rdata_to_wire(&r.rdata), wire, "{line}");
    assert_eq!(rdata_to_text(rtype, &r.rdata), text, "{line}");
    // The text form parses back to the same bytes.
    let again = one(&format!("x 60 {} {text}", type_to_text(rtype)));
    assert_eq!(rdata_to_wire(&again.rdata), wire, "round trip of {text}");
    r
}

fn name_part(label: &[u8], compress: bool) -> RdataPart {
    RdataPart::Name {
        name: WireName(n(label)),
        compress,
    }
}

#[test]
fn a_and_aaaa() {
    let r = check(
        "www 60 A 192.0.2.1",
        1,
        &[0xc0, 0x00, 0x02, 0x01],
        "192.0.2.1",
    );
    assert_eq!(r.rdata, [RdataPart::Bytes(vec![192, 0, 2, 1])]);
    check(
        "www 60 AAAA 2001:db8::1",
        28,
        &[
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        ],
        "2001:db8::1",
    );
}

#[test]
fn ns_cname_ptr_compressible_dname_not() {
    let r = check("@ 60 NS ns1", 2, &n(b"ns1"), "ns1.example.test.");
    assert_eq!(r.rdata, [name_part(b"ns1", true)]);
    let r = check("w 60 CNAME web", 5, &n(b"web"), "web.example.test.");
    assert_eq!(r.rdata, [name_part(b"web", true)]);
    let r = check("1 60 PTR host", 12, &n(b"host"), "host.example.test.");
    assert_eq!(r.rdata, [name_part(b"host", true)]);
    let r = check("old 60 DNAME new", 39, &n(b"new"), "new.example.test.");
    assert_eq!(r.rdata, [name_part(b"new", false)]);
}

#[test]
fn mx() {
    let r = check(
        "@ 60 MX 10 mail",
        15,
        &cat(&[&[0x00, 0x0a], &n(b"mail")]),
        "10 mail.example.test.",
    );
    assert_eq!(
        r.rdata,
        [RdataPart::Bytes(vec![0x00, 0x0a]), name_part(b"mail", true)]
    );
}

#[test]
fn soa() {
    let soa = ok(SOA).records.remove(0);
    let wire = cat(&[
        &n(b"ns1"),
        &n(b"hostmaster"),
        &[0, 0, 0, 1],          // serial 1
        &[0, 0, 0x1c, 0x20],    // refresh 7200
        &[0, 0, 0x0e, 0x10],    // retry 3600
        &[0, 0x12, 0x75, 0x00], // expire 1209600
        &[0, 0, 0x01, 0x2c],    // minimum 300
    ]);
    assert_eq!(rdata_to_wire(&soa.rdata), wire);
    assert_eq!(soa.rdata.len(), 3);
    assert_eq!(soa.rdata[0], name_part(b"ns1", true));
    assert_eq!(soa.rdata[1], name_part(b"hostmaster", true));
}

#[test]
fn txt_and_hinfo() {
    check(
        r#"t 60 TXT "v=spf1 -all" plain """#,
        16,
        b"\x0bv=spf1 -all\x05plain\x00",
        r#""v=spf1 -all" "plain" """#,
    );
    let long = "x".repeat(255);
    let r = one(&format!("t 60 TXT \"{long}\" \"{long}\""));
    let wire = rdata_to_wire(&r.rdata);
    assert_eq!(wire.len(), 512);
    assert_eq!((wire[0], wire[256]), (255, 255));
    check(
        "h 60 HINFO \"PC\" Linux",
        13,
        b"\x02PC\x05Linux",
        "\"PC\" \"Linux\"",
    );
}

#[test]
fn srv() {
    let r = check(
        "_sip._udp 60 SRV 10 20 5060 sip",
        33,
        &cat(&[&[0x00, 0x0a, 0x00, 0x14, 0x13, 0xc4], &n(b"sip")]),
        "10 20 5060 sip.example.test.",
    );
    // RFC 2782: the target is not compressed.
    assert_eq!(r.rdata[1], name_part(b"sip", false));
}

#[test]
fn naptr() {
    let r = check(
        r#"@ 60 NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp"#,
        35,
        &cat(&[
            &[0x00, 0x64, 0x00, 0x0a],
            b"\x01S\x07SIP+D2U\x00",
            b"\x04_sip\x04_udp\x07example\x04test\x00",
        ]),
        r#"100 10 "S" "SIP+D2U" "" _sip._udp.example.test."#,
    );
    assert!(matches!(
        r.rdata[1],
        RdataPart::Name {
            compress: false,
            ..
        }
    ));
    check(
        r#"@ 60 NAPTR 1 2 "U" "E2U+sip" "!^.*$!sip:info@example.test!" ."#,
        35,
        &cat(&[
            &[0, 1, 0, 2],
            b"\x01U\x07E2U+sip",
            b"\x1c!^.*$!sip:info@example.test!",
            &[0],
        ]),
        r#"1 2 "U" "E2U+sip" "!^.*$!sip:info@example.test!" ."#,
    );
}

#[test]
fn caa() {
    check(
        r#"@ 60 CAA 0 issue "ca.example.net""#,
        257,
        b"\x00\x05issueca.example.net",
        r#"0 issue "ca.example.net""#,
    );
    check(
        r#"@ 60 CAA 128 iodef "mailto:sec@example.test""#,
        257,
        b"\x80\x05iodefmailto:sec@example.test",
        r#"128 iodef "mailto:sec@example.test""#,
    );
}

#[test]
fn generic_form_equals_known_form() {
    for (generic, known) in [
        ("A \\# 4 C0000201", "A 192.0.2.1"),
        ("SRV \\# 9 0001 0002 0003 01 61 00", "SRV 1 2 3 a."),
        ("TXT \\# 3 02 6869", "TXT hi"),
        ("CAA \\# 8 00 03 746167 7661 6c", "CAA 0 tag \"val\""),
    ] {
        let g = one(&format!("x 60 {generic}"));
        let k = one(&format!("x 60 {known}"));
        assert_eq!(g.rdata, k.rdata, "{generic} vs {known}");
    }
}

#[test]
fn text_of_malformed_parts_falls_back_to_generic() {
    // An A record whose bytes are not 4 long prints generically, not garbage.
    assert_eq!(
        rdata_to_text(1, &[RdataPart::Bytes(vec![1, 2, 3])]),
        "\\# 3 010203"
    );
}
