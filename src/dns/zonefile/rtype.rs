//! Record type and class numbers and their mnemonics (case-insensitive, plus the RFC 3597
//! `TYPEnnn` / `CLASSnnn` forms).

pub const A: u16 = 1;
pub const NS: u16 = 2;
pub const CNAME: u16 = 5;
pub const SOA: u16 = 6;
pub const PTR: u16 = 12;
pub const HINFO: u16 = 13;
pub const MX: u16 = 15;
pub const TXT: u16 = 16;
pub const AAAA: u16 = 28;
pub const SRV: u16 = 33;
pub const NAPTR: u16 = 35;
pub const DNAME: u16 = 39;
pub const OPT: u16 = 41;
pub const RRSIG: u16 = 46;
pub const NSEC: u16 = 47;
pub const CAA: u16 = 257;

/// The class IN.
pub const CLASS_IN: u16 = 1;

/// Types with a presentation-form parser here.
const SUPPORTED: &[(&str, u16)] = &[
    ("A", A),
    ("NS", NS),
    ("CNAME", CNAME),
    ("SOA", SOA),
    ("PTR", PTR),
    ("HINFO", HINFO),
    ("MX", MX),
    ("TXT", TXT),
    ("AAAA", AAAA),
    ("SRV", SRV),
    ("NAPTR", NAPTR),
    ("DNAME", DNAME),
    ("CAA", CAA),
];

/// Well-known types that are accepted only in the RFC 3597 `\#` form.
const GENERIC_ONLY: &[(&str, u16)] = &[
    ("NULL", 10),
    ("RP", 17),
    ("AFSDB", 18),
    ("LOC", 29),
    ("KX", 36),
    ("CERT", 37),
    ("DS", 43),
    ("SSHFP", 44),
    ("RRSIG", RRSIG),
    ("NSEC", NSEC),
    ("DNSKEY", 48),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("URI", 256),
];

/// True when the type has a presentation-form parser (as opposed to `\#` only).
pub fn has_parser(rtype: u16) -> bool {
    SUPPORTED.iter().any(|&(_, t)| t == rtype)
}

/// Parses a type mnemonic or `TYPEnnn`.
pub fn type_from_text(raw: &[u8]) -> Result<u16, String> {
    for &(name, t) in SUPPORTED.iter().chain(GENERIC_ONLY) {
        if raw.eq_ignore_ascii_case(name.as_bytes()) {
            return Ok(t);
        }
    }
    if let Some(num) = strip_prefix_ignore_case(raw, b"TYPE") {
        let t = parse_code(num)
            .ok_or_else(|| "bad type number: expected TYPE0 to TYPE65535".to_string())?;
        return Ok(t);
    }
    Err("unknown record type (expected a supported mnemonic or TYPEnnn)".to_string())
}

/// Every type mnemonic [`type_from_text`] knows, in table order.
pub fn type_names() -> impl Iterator<Item = &'static str> {
    SUPPORTED.iter().chain(GENERIC_ONLY).map(|&(name, _)| name)
}

/// Why a type may not appear in a zone file, if it may not.
pub fn refused_type(rtype: u16) -> Option<&'static str> {
    match rtype {
        0 => Some("type 0 is reserved"),
        OPT => Some("OPT is a pseudo-record and cannot appear in a zone"),
        128..=255 => Some("types 128-255 are meta-types and query types (RFC 6895)"),
        _ => None,
    }
}

/// Mnemonic of a type, or `TYPEnnn`.
pub fn type_to_text(rtype: u16) -> String {
    SUPPORTED
        .iter()
        .chain(GENERIC_ONLY)
        .find(|&&(_, t)| t == rtype)
        .map(|&(name, _)| name.to_string())
        .unwrap_or_else(|| format!("TYPE{rtype}"))
}

/// Reads a class token: `Some(class)` when the token is a class mnemonic or `CLASSnnn`,
/// `None` when it is not a class at all.
pub fn class_from_text(raw: &[u8]) -> Option<u16> {
    const CLASSES: &[(&str, u16)] = &[
        ("IN", CLASS_IN),
        ("CS", 2),
        ("CH", 3),
        ("CHAOS", 3),
        ("HS", 4),
        ("HESIOD", 4),
        ("NONE", 254),
        ("ANY", 255),
    ];
    for &(name, c) in CLASSES {
        if raw.eq_ignore_ascii_case(name.as_bytes()) {
            return Some(c);
        }
    }
    strip_prefix_ignore_case(raw, b"CLASS").and_then(parse_code)
}

fn strip_prefix_ignore_case<'a>(raw: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = raw.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &raw[prefix.len()..])
}

fn parse_code(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics() {
        assert_eq!(type_from_text(b"mx"), Ok(MX));
        assert_eq!(type_from_text(b"Aaaa"), Ok(AAAA));
        assert_eq!(type_from_text(b"TYPE65280"), Ok(65280));
        assert_eq!(type_from_text(b"type1"), Ok(A));
        assert_eq!(type_from_text(b"ds"), Ok(43));
        assert!(
            type_from_text(b"TYPE65536")
                .unwrap_err()
                .contains("bad type")
        );
        assert!(type_from_text(b"TYPE").unwrap_err().contains("bad type"));
        assert!(
            type_from_text(b"FOO")
                .unwrap_err()
                .contains("unknown record type")
        );
        assert_eq!(type_to_text(CAA), "CAA");
        assert_eq!(type_to_text(65280), "TYPE65280");
        assert!(has_parser(NAPTR) && !has_parser(43));
        assert!(refused_type(41).is_some() && refused_type(255).is_some());
        assert!(refused_type(0).is_some() && refused_type(1).is_none());
    }

    #[test]
    fn classes() {
        assert_eq!(class_from_text(b"in"), Some(1));
        assert_eq!(class_from_text(b"CLASS1"), Some(1));
        assert_eq!(class_from_text(b"ch"), Some(3));
        assert_eq!(class_from_text(b"CLASS70000"), None);
        assert_eq!(class_from_text(b"A"), None);
    }
}
