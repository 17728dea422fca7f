//! One test per refusal: each checks the line reported and the words of the reason.

use super::*;

/// `rr` on line 2, after the SOA: expects an error on `line` containing `needle`.
fn bad_at(rr: &str, line: usize, needle: &str) -> ZoneFileError {
    err_at(&format!("{SOA}{rr}"), line, needle)
}

fn bad(rr: &str, needle: &str) -> ZoneFileError {
    bad_at(rr, 2, needle)
}

#[test]
fn bad_addresses() {
    bad(
        "a 60 A 192.0.2.256",
        "bad IPv4 address for A address: expected a.b.c.d",
    );
    bad("a 60 A 192.0.2", "bad IPv4 address");
    bad("a 60 A ::1", "bad IPv4 address");
    bad("a 60 A \"192.0.2.1\"", "must not be a quoted string");
    bad("a 60 AAAA 2001:db8::g", "bad IPv6 address for AAAA address");
    bad("a 60 AAAA 192.0.2.1", "bad IPv6 address");
}

#[test]
fn bad_numbers_and_overflow() {
    bad(
        "a 60 MX ten mail",
        "bad number for MX preference: expected decimal digits",
    );
    bad("a 60 MX -1 mail", "bad number for MX preference");
    bad(
        "a 60 MX 65536 mail",
        "MX preference is out of range (0 to 65535)",
    );
    bad(
        "a 60 CAA 256 issue \"x\"",
        "CAA flags is out of range (0 to 255)",
    );
    bad("a 60 SRV 1 2 99999999999999999999 t", "SRV port");
    err_at(
        "@ 60 SOA ns1 hostmaster 4294967296 1 2 3 4\n",
        1,
        "SOA serial is out of range",
    );
    err_at(
        "@ 60 SOA ns1 hostmaster 1 1x 2 3 4\n",
        1,
        "SOA refresh: bad TTL: expected seconds",
    );
    bad("a 2147483648 A 192.0.2.1", "over 2147483647 seconds");
    bad("a 9999999w A 192.0.2.1", "over 2147483647 seconds");
    bad("a 1hh A 192.0.2.1", "bad TTL: expected seconds");
    err_at(&format!("$TTL 5q\n{SOA}"), 1, "$TTL: bad TTL: expected");
}

#[test]
fn long_labels_and_names() {
    let l64 = "a".repeat(64);
    bad(
        &format!("{l64} 60 A 192.0.2.1"),
        "64 bytes long, over the 63-byte limit",
    );
    bad(
        &format!("a 60 CNAME {l64}.x."),
        "bad domain name for CNAME target: a label is 64 bytes",
    );
    let l63 = "b".repeat(63);
    // 4 * 64 + 14 (example.test.) > 255.
    bad(
        &format!("{l63}.{l63}.{l63}.{l63} 60 A 192.0.2.1"),
        "over the 255-byte limit",
    );
    bad("a..b 60 A 192.0.2.1", "empty label");
    bad("a\\300 60 A 192.0.2.1", "\\DDD escape value above 255");
    bad("a 60 TXT \"\\12x\"", "TXT text: bad escape");
}

#[test]
fn unknown_and_refused_types() {
    bad("a 60 FOO 1", "unknown record type");
    bad("a 60 IN", "missing record type");
    bad("a 60 TYPE70000 \\# 0", "bad type number");
    bad("a 60 TYPE41 \\# 0", "OPT is a pseudo-record");
    bad("a 60 TYPE255 \\# 0", "meta-types");
    bad(
        "a 60 DS 1 2 3 abcd",
        "only accepted in the RFC 3597 generic form",
    );
    bad(
        "a 60 TYPE65280 1 2",
        "only accepted in the RFC 3597 generic form",
    );
    bad("a 60 \"A\" 192.0.2.1", "found a quoted string");
}

#[test]
fn missing_and_extra_rdata() {
    bad("a 60 MX 10", "missing RDATA: MX exchange");
    bad("a 60 A", "missing RDATA: A address");
    bad("a 60 TXT", "missing RDATA: TXT text");
    bad("a 60 SRV 1 2 3", "missing RDATA: SRV target");
    err_at(
        "@ 60 SOA ns1 hostmaster 1 2 3 4\n",
        1,
        "missing RDATA: SOA minimum",
    );
    bad(
        "a 60 A 192.0.2.1 192.0.2.2",
        "extra RDATA after the last A field",
    );
    bad("a 60 CNAME b c", "extra RDATA after the last CNAME field");
    // The extra token is reported on its own line.
    bad_at(
        "a 60 MX ( 10 mail\n extra )",
        3,
        "extra RDATA after the last MX field",
    );
}

#[test]
fn txt_string_over_255_bytes() {
    let long = "x".repeat(256);
    bad(
        &format!("t 60 TXT \"{long}\""),
        "character-string of 256 bytes is over the 255-byte limit",
    );
    bad(
        &format!("t 60 HINFO {long} os"),
        "HINFO cpu: character-string of 256 bytes",
    );
}

#[test]
fn generic_rdata_errors() {
    bad(
        "a 60 TYPE65280 \\# 3 0102",
        "length says 3 bytes but the hex gives 2",
    );
    bad("a 60 TYPE65280 \\# 2 010", "odd number of hex digits");
    bad("a 60 TYPE65280 \\# 1 zz", "bad hex digit");
    bad("a 60 TYPE65280 \\#", "needs a length");
    bad("a 60 TYPE65280 \\# 65536", "\\# length is out of range");
    bad(
        "a 60 A \\# 3 010203",
        "not a valid A: RDATA ends inside the address",
    );
    bad(
        "a 60 A \\# 5 0102030405",
        "not a valid A: 1 bytes left over",
    );
    bad(
        "a 60 MX \\# 4 000a c000",
        "not a valid MX: exchange: label length byte 0xc0",
    );
    bad("a 60 CAA \\# 3 00 00 00", "CAA tag must be 1 to 15");
}

#[test]
fn unbalanced_parens_and_quotes() {
    bad_at("a 60 MX ( 10\n mail\n", 2, "'(' is never closed");
    bad("a 60 A 192.0.2.1 )", "')' without '('");
    bad_at(
        "b 60 TXT \"open\nc 60 A 192.0.2.1\n",
        2,
        "unbalanced quotes",
    );
    bad("a 60 TXT ( ( x ) )", "nested parentheses");
}

#[test]
fn out_of_zone_data() {
    bad(
        "www.example.org. 60 A 192.0.2.1",
        "out-of-zone data: the owner is not inside the zone example.test.",
    );
    bad_at(
        "$ORIGIN other.test.\nwww 60 A 192.0.2.1",
        3,
        "out-of-zone data",
    );
    // The apex's parent is outside too.
    bad("test. 60 A 192.0.2.1", "out-of-zone data");
}

#[test]
fn soa_rules() {
    err_at(
        "www 60 A 192.0.2.1\n",
        1,
        "missing SOA record at the zone apex example.test.",
    );
    err_at("", 1, "missing SOA");
    let e = bad_at(
        "www 60 A 192.0.2.1\n@ 60 SOA ns2 hostmaster 2 1 1 1 1",
        3,
        "second SOA record for example.test. (the first is at t.zone:1)",
    );
    assert_eq!(e.file, Path::new("t.zone"));
    bad(
        "sub 60 SOA ns1 hostmaster 1 1 1 1 1",
        "SOA record at sub.example.test., which is not the zone apex",
    );
}

#[test]
fn cname_beside_other_data() {
    bad_at(
        "www 60 A 192.0.2.1\nWWW 60 CNAME other",
        3,
        "CNAME at WWW.example.test. beside other data (A at t.zone:2)",
    );
    bad_at(
        "www 60 CNAME other\n 60 TXT hi",
        3,
        "TXT at www.example.test. beside a CNAME (at t.zone:2)",
    );
    bad_at(
        "www 60 CNAME a\nwww 60 CNAME b",
        3,
        "second CNAME at www.example.test.",
    );
    // At the apex the SOA is the other data.
    bad(
        "@ 60 CNAME elsewhere.",
        "beside other data (SOA at t.zone:1)",
    );
    // The same CNAME twice is a duplicate, not a conflict.
    assert_eq!(rrs("www 60 CNAME a\nwww 60 CNAME a").len(), 1);
    // RRSIG and NSEC may sit beside a CNAME (RFC 4035 s2.5).
    assert_eq!(rrs("www 60 CNAME a\nwww 60 NSEC \\# 3 00 00 00").len(), 2);
}

#[test]
fn dname_rules() {
    bad_at(
        "d 60 DNAME a.\nd 60 DNAME b.",
        3,
        "second DNAME at d.example.test.",
    );
    bad_at(
        "d 60 DNAME a.\nx.d 60 A 192.0.2.1",
        3,
        "x.d.example.test. lies below the DNAME at d.example.test. (t.zone:2)",
    );
    // Other data beside a DNAME is fine.
    assert_eq!(rrs("d 60 DNAME a.\nd 60 A 192.0.2.1").len(), 2);
}

#[test]
fn classes_other_than_in() {
    bad(
        "a 60 CH A 192.0.2.1",
        "class not supported: only IN (CLASS1)",
    );
    bad("a 60 CLASS3 A 192.0.2.1", "class not supported");
    bad("a 60 IN IN A 192.0.2.1", "a second class in one record");
    bad("a 60 30 A 192.0.2.1", "a second TTL in one record");
}

#[test]
fn owners_and_directives() {
    err_at(
        " 60 A 192.0.2.1\n",
        1,
        "no previous record to take the owner from",
    );
    bad(
        "$GENERATE 1-10 h$ A 192.0.2.$",
        "unknown or unsupported directive (expected $ORIGIN, $TTL or $INCLUDE)",
    );
    bad("$ORIGIN", "$ORIGIN takes one domain name, not 0");
    bad("$TTL 1 2", "$TTL takes one TTL, not 2");
    bad(
        "$INCLUDE",
        "$INCLUDE takes a file name and an optional origin, not 0 arguments",
    );
    bad(
        "$ORIGIN \"x\"",
        "must be a domain name, not a quoted string",
    );
    bad(
        "a 60 NS \"ns1\"",
        "NS nameserver must be a domain name, not a quoted string",
    );
}
