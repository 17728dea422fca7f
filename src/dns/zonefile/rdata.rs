//! RDATA from presentation form: one field layout per supported type, the parsers for each
//! kind of field (numbers, TTLs with units, addresses, names, character-strings, CAA tags),
//! the RFC 3597 `\# len hex` form, and the [`RdataPart`] list the answer core encodes.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::lexer::Token;
use super::name::{WireName, escape_at};
use super::present::decode_values;
use super::rtype::{self, type_to_text};

/// One piece of RDATA.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum RdataPart {
    /// A domain name; `compress` is true only where RFC 3597 s4 allows compression
    /// (NS, CNAME, SOA mname/rname, PTR, MX exchange; DNAME, SRV and NAPTR names are not).
    Name {
        name: WireName,
        compress: bool,
    },
    Bytes(Vec<u8>),
}

/// Largest TTL (RFC 2181 s8: the top bit must be clear).
pub const MAX_TTL: u32 = 0x7fff_ffff;
const MAX_RDATA: usize = 0xffff;

/// What kind of data one RDATA field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    U8,
    U16,
    U32,
    /// A 32-bit number that may be written with units (SOA timers).
    Ttl,
    V4,
    V6,
    Name {
        compress: bool,
    },
    /// One `<character-string>` (length byte + up to 255 bytes).
    Str,
    /// One or more character-strings, to the end of the RDATA (TXT).
    Strs,
    /// CAA tag: a length byte and 1-15 letters or digits (RFC 8659 s4.1).
    CaaTag,
    /// CAA value: raw bytes to the end of the RDATA.
    CaaValue,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Field {
    pub kind: Kind,
    pub name: &'static str,
}

/// A field literal (a struct expression, so layouts can be promoted to `'static`).
macro_rules! f {
    ($kind:expr, $name:literal) => {
        Field {
            kind: $kind,
            name: $name,
        }
    };
}

const COMPRESSED: Kind = Kind::Name { compress: true };
const PLAIN_NAME: Kind = Kind::Name { compress: false };

/// The fields of a type's RDATA, for the types with a presentation-form parser.
pub(super) fn layout(rtype: u16) -> Option<&'static [Field]> {
    use Kind::*;
    Some(match rtype {
        rtype::A => &[f!(V4, "address")],
        rtype::AAAA => &[f!(V6, "address")],
        rtype::NS => &[f!(COMPRESSED, "nameserver")],
        rtype::CNAME | rtype::PTR => &[f!(COMPRESSED, "target")],
        rtype::DNAME => &[f!(PLAIN_NAME, "target")],
        rtype::SOA => &[
            f!(COMPRESSED, "mname"),
            f!(COMPRESSED, "rname"),
            f!(U32, "serial"),
            f!(Ttl, "refresh"),
            f!(Ttl, "retry"),
            f!(Ttl, "expire"),
            f!(Ttl, "minimum"),
        ],
        rtype::MX => &[f!(U16, "preference"), f!(COMPRESSED, "exchange")],
        rtype::TXT => &[f!(Strs, "text")],
        rtype::HINFO => &[f!(Str, "cpu"), f!(Str, "os")],
        rtype::SRV => &[
            f!(U16, "priority"),
            f!(U16, "weight"),
            f!(U16, "port"),
            f!(PLAIN_NAME, "target"),
        ],
        rtype::NAPTR => &[
            f!(U16, "order"),
            f!(U16, "preference"),
            f!(Str, "flags"),
            f!(Str, "services"),
            f!(Str, "regexp"),
            f!(PLAIN_NAME, "replacement"),
        ],
        rtype::CAA => &[f!(U8, "flags"), f!(CaaTag, "tag"), f!(CaaValue, "value")],
        _ => return None,
    })
}

/// One decoded field value; how it is encoded depends on the field's [`Kind`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Value {
    Int(u32),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Name(WireName),
    /// A character-string or CAA tag (without its length byte).
    Str(Vec<u8>),
    Strs(Vec<Vec<u8>>),
    /// Bytes to the end of the RDATA.
    Raw(Vec<u8>),
}

/// Names a field in messages, formatted only when a message is made.
#[derive(Clone, Copy)]
pub(super) struct What<'a> {
    rtype: u16,
    field: &'a str,
}

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", type_to_text(self.rtype), self.field)
    }
}

/// A problem at a line, and at a column when it is one token's fault (0 otherwise).
/// Reasons say what was expected, never the text found: a file read as a zone by mistake
/// (or through a hostile `$INCLUDE`) must not have its content copied into logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub line: usize,
    pub col: usize,
    pub reason: String,
}

impl Problem {
    pub fn new(line: usize, reason: impl Into<String>) -> Self {
        Problem {
            line,
            col: 0,
            reason: reason.into(),
        }
    }

    /// A problem with one token.
    pub fn at(tok: &Token<'_>, reason: impl Into<String>) -> Self {
        Problem {
            line: tok.line,
            col: tok.col,
            reason: reason.into(),
        }
    }
}

/// Parses the RDATA tokens of a record of type `rtype`; `line` is the record's line.
pub(super) fn parse_rdata(
    rtype: u16,
    tokens: &[Token<'_>],
    origin: &WireName,
    line: usize,
) -> Result<Vec<RdataPart>, Problem> {
    if let Some(first) = tokens.first()
        && first.is_generic_marker()
    {
        let data = parse_generic(rtype, &tokens[1..], first.line)?;
        let Some(layout) = layout(rtype) else {
            return Ok(if data.is_empty() {
                Vec::new()
            } else {
                vec![RdataPart::Bytes(data)]
            });
        };
        let values = decode_values(layout, &data).map_err(|why| {
            Problem::new(
                first.line,
                format!("\\# RDATA is not a valid {}: {why}", type_to_text(rtype)),
            )
        })?;
        return Ok(values_to_parts(layout, values));
    }
    let Some(layout) = layout(rtype) else {
        let tname = type_to_text(rtype);
        return Err(Problem::new(
            line,
            format!(
                "type {tname} is only accepted in the RFC 3597 generic form: {tname} \\# <length> <hex>"
            ),
        ));
    };
    let mut rest = tokens;
    let mut values = Vec::with_capacity(layout.len());
    for field in layout {
        let what = What {
            rtype,
            field: field.name,
        };
        if field.kind == Kind::Strs {
            if rest.is_empty() {
                return Err(Problem::new(line, format!("missing RDATA: {what}")));
            }
            let strings = rest
                .iter()
                .map(|t| char_string(t, what))
                .collect::<Result<_, _>>()?;
            values.push(Value::Strs(strings));
            rest = &[];
            continue;
        }
        let Some((tok, tail)) = rest.split_first() else {
            return Err(Problem::new(line, format!("missing RDATA: {what}")));
        };
        rest = tail;
        values.push(parse_field(field.kind, tok, origin, what)?);
    }
    if let Some(extra) = rest.first() {
        let tname = type_to_text(rtype);
        return Err(Problem::at(
            extra,
            format!(
                "extra RDATA after the last {tname} field ({})",
                layout.last().map_or("", |f| f.name)
            ),
        ));
    }
    let parts = values_to_parts(layout, values);
    let len: usize = parts.iter().map(part_len).sum();
    if len > MAX_RDATA {
        return Err(Problem::new(
            line,
            format!(
                "{} RDATA is {len} bytes, over the {MAX_RDATA}-byte limit",
                type_to_text(rtype)
            ),
        ));
    }
    Ok(parts)
}

fn parse_field(
    kind: Kind,
    tok: &Token<'_>,
    origin: &WireName,
    what: What<'_>,
) -> Result<Value, Problem> {
    let err = |reason: String| Problem::at(tok, reason);
    Ok(match kind {
        Kind::U8 => Value::Int(parse_int(tok, u32::from(u8::MAX), what)?),
        Kind::U16 => Value::Int(parse_int(tok, u32::from(u16::MAX), what)?),
        Kind::U32 => Value::Int(parse_int(tok, u32::MAX, what)?),
        Kind::Ttl => Value::Int(parse_ttl(tok.raw).map_err(|e| err(format!("{what}: {e}")))?),
        Kind::V4 => Value::V4(
            bare(tok, what)?
                .parse()
                .map_err(|_| err(format!("bad IPv4 address for {what}: expected a.b.c.d")))?,
        ),
        Kind::V6 => Value::V6(
            bare(tok, what)?
                .parse()
                .map_err(|_| err(format!("bad IPv6 address for {what}")))?,
        ),
        Kind::Name { .. } => {
            if tok.quoted {
                return Err(err(format!(
                    "{what} must be a domain name, not a quoted string"
                )));
            }
            Value::Name(
                WireName::from_presentation(tok.raw, origin)
                    .map_err(|e| err(format!("bad domain name for {what}: {e}")))?,
            )
        }
        Kind::Str => Value::Str(char_string(tok, what)?),
        Kind::Strs => Value::Strs(vec![char_string(tok, what)?]),
        Kind::CaaTag => {
            let ok = !tok.quoted
                && (1..=15).contains(&tok.raw.len())
                && tok.raw.iter().all(u8::is_ascii_alphanumeric);
            if !ok {
                return Err(err(format!(
                    "bad {what}: expected 1 to 15 ASCII letters and digits (RFC 8659)"
                )));
            }
            Value::Str(tok.raw.to_vec())
        }
        Kind::CaaValue => Value::Raw(
            decode_string(tok.raw).map_err(|why| err(format!("{what}: bad escape: {why}")))?,
        ),
    })
}

fn bare<'t>(tok: &Token<'t>, what: What<'_>) -> Result<&'t str, Problem> {
    if tok.quoted {
        return Err(Problem::at(
            tok,
            format!("{what} must not be a quoted string"),
        ));
    }
    std::str::from_utf8(tok.raw).map_err(|_| Problem::at(tok, format!("{what} is not ASCII")))
}

fn parse_int(tok: &Token<'_>, max: u32, what: What<'_>) -> Result<u32, Problem> {
    let raw = tok.raw;
    if tok.quoted || raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return Err(Problem::at(
            tok,
            format!("bad number for {what}: expected decimal digits"),
        ));
    }
    let mut v: u64 = 0;
    for &d in raw {
        v = v * 10 + u64::from(d - b'0');
        if v > u64::from(max) {
            return Err(Problem::at(
                tok,
                format!("{what} is out of range (0 to {max})"),
            ));
        }
    }
    // v <= max <= u32::MAX was checked in the loop.
    Ok(v as u32)
}

/// Parses a TTL: seconds, or numbers with units `s m h d w` (any case) such as `1h30m`;
/// a trailing number without unit counts as seconds. At most [`MAX_TTL`].
pub(super) fn parse_ttl(raw: &[u8]) -> Result<u32, String> {
    let bad = || "bad TTL: expected seconds, or units such as 1h30m (s m h d w)".to_string();
    let over = || format!("TTL is over {MAX_TTL} seconds (RFC 2181 s8)");
    if !raw.first().is_some_and(u8::is_ascii_digit) {
        return Err(bad());
    }
    let limit = u64::from(MAX_TTL);
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for &b in raw {
        if b.is_ascii_digit() {
            let n = num.unwrap_or(0) * 10 + u64::from(b - b'0');
            if n > limit {
                return Err(over());
            }
            num = Some(n);
        } else {
            let unit: u64 = match b.to_ascii_lowercase() {
                b's' => 1,
                b'm' => 60,
                b'h' => 3600,
                b'd' => 86_400,
                b'w' => 604_800,
                _ => return Err(bad()),
            };
            total += num.take().ok_or_else(bad)? * unit;
            if total > limit {
                return Err(over());
            }
        }
    }
    total += num.unwrap_or(0);
    if total > limit {
        return Err(over());
    }
    // total <= MAX_TTL was checked just above.
    Ok(total as u32)
}

fn char_string(tok: &Token<'_>, what: What<'_>) -> Result<Vec<u8>, Problem> {
    let bytes = decode_string(tok.raw)
        .map_err(|why| Problem::new(tok.line, format!("{what}: bad escape: {why}")))?;
    if bytes.len() > 255 {
        return Err(Problem::new(
            tok.line,
            format!(
                "{what}: character-string of {} bytes is over the 255-byte limit; split it into several quoted strings",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Decodes `\DDD` and `\X` escapes of a string token.
pub(super) fn decode_string(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            let (b, next) = escape_at(raw, i)?;
            out.push(b);
            i = next;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// `\# <length> <hex>...` (RFC 3597 s5): the hex may be split over several tokens.
fn parse_generic(rtype: u16, tokens: &[Token<'_>], line: usize) -> Result<Vec<u8>, Problem> {
    let Some((len_tok, hex)) = tokens.split_first() else {
        return Err(Problem::new(line, "\\# needs a length and hex data"));
    };
    let what = What {
        rtype,
        field: "\\# length",
    };
    let len = parse_int(len_tok, MAX_RDATA as u32, what)? as usize;
    let mut data = Vec::with_capacity(len);
    let mut pending: Option<u8> = None;
    for tok in hex {
        for &c in tok.raw {
            let nibble = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => {
                    return Err(Problem::at(tok, "bad hex digit in \\# RDATA"));
                }
            };
            match pending.take() {
                Some(high) => data.push(high << 4 | nibble),
                None => pending = Some(nibble),
            }
        }
    }
    if pending.is_some() {
        return Err(Problem::new(line, "odd number of hex digits in \\# RDATA"));
    }
    if data.len() != len {
        return Err(Problem::new(
            line,
            format!(
                "\\# length says {len} bytes but the hex gives {}",
                data.len()
            ),
        ));
    }
    Ok(data)
}

/// Encodes field values; runs of non-name fields become one `Bytes` part.
pub(super) fn values_to_parts(layout: &[Field], values: Vec<Value>) -> Vec<RdataPart> {
    let mut parts = Vec::new();
    let mut bytes = Vec::new();
    for (field, value) in layout.iter().zip(values) {
        match (field.kind, value) {
            (Kind::Name { compress }, Value::Name(name)) => {
                if !bytes.is_empty() {
                    parts.push(RdataPart::Bytes(std::mem::take(&mut bytes)));
                }
                parts.push(RdataPart::Name { name, compress });
            }
            (Kind::U8, Value::Int(n)) => bytes.push(n as u8),
            (Kind::U16, Value::Int(n)) => bytes.extend_from_slice(&(n as u16).to_be_bytes()),
            (_, Value::Int(n)) => bytes.extend_from_slice(&n.to_be_bytes()),
            (_, Value::V4(a)) => bytes.extend_from_slice(&a.octets()),
            (_, Value::V6(a)) => bytes.extend_from_slice(&a.octets()),
            (_, Value::Name(name)) => bytes.extend_from_slice(&name.0),
            (_, Value::Str(s)) => push_char_string(&mut bytes, &s),
            (_, Value::Strs(list)) => {
                for s in list {
                    push_char_string(&mut bytes, &s);
                }
            }
            (_, Value::Raw(r)) => bytes.extend_from_slice(&r),
        }
    }
    if !bytes.is_empty() {
        parts.push(RdataPart::Bytes(bytes));
    }
    parts
}

fn push_char_string(out: &mut Vec<u8>, s: &[u8]) {
    // Parsers and the wire decoder keep strings at 255 bytes or fewer.
    out.push(s.len().min(255) as u8);
    out.extend_from_slice(&s[..s.len().min(255)]);
}

fn part_len(part: &RdataPart) -> usize {
    match part {
        RdataPart::Name { name, .. } => name.0.len(),
        RdataPart::Bytes(b) => b.len(),
    }
}

/// The RDATA in uncompressed wire form.
pub fn rdata_to_wire(parts: &[RdataPart]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(part_len).sum());
    for part in parts {
        match part {
            RdataPart::Name { name, .. } => out.extend_from_slice(&name.0),
            RdataPart::Bytes(b) => out.extend_from_slice(b),
        }
    }
    out
}
