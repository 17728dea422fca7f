//! RDATA back from wire form: the field decoder (used to check RFC 3597 `\#` data of known
//! types, and to print) and [`rdata_to_text`], the presentation formatter behind `explain`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::name::{MAX_LABEL, MAX_NAME, WireName, push_escaped};
use super::rdata::{Field, Kind, RdataPart, Value, layout, rdata_to_wire};

/// Splits uncompressed RDATA into the fields of `layout`.
pub(super) fn decode_values(layout: &[Field], wire: &[u8]) -> Result<Vec<Value>, String> {
    let mut pos = 0;
    let mut values = Vec::with_capacity(layout.len());
    for field in layout {
        let cut = || format!("RDATA ends inside the {}", field.name);
        let value = match field.kind {
            Kind::U8 => Value::Int(u32::from(take(wire, &mut pos, 1, field.name)?[0])),
            Kind::U16 => {
                let b = take(wire, &mut pos, 2, field.name)?;
                Value::Int(u32::from(u16::from_be_bytes([b[0], b[1]])))
            }
            Kind::U32 | Kind::Ttl => {
                let b = take(wire, &mut pos, 4, field.name)?;
                Value::Int(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            Kind::V4 => {
                let b = take(wire, &mut pos, 4, field.name)?;
                Value::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            Kind::V6 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(take(wire, &mut pos, 16, field.name)?);
                Value::V6(Ipv6Addr::from(a))
            }
            Kind::Name { .. } => Value::Name(read_name(wire, &mut pos, field.name)?),
            Kind::Str | Kind::CaaTag => {
                let len = usize::from(take(wire, &mut pos, 1, field.name)?[0]);
                let s = take(wire, &mut pos, len, field.name)?.to_vec();
                if field.kind == Kind::CaaTag
                    && (s.is_empty() || s.len() > 15 || !s.iter().all(u8::is_ascii_alphanumeric))
                {
                    return Err("CAA tag must be 1 to 15 ASCII letters and digits".to_string());
                }
                Value::Str(s)
            }
            Kind::Strs => {
                let mut list = Vec::new();
                while pos < wire.len() {
                    let len = usize::from(take(wire, &mut pos, 1, field.name)?[0]);
                    list.push(take(wire, &mut pos, len, field.name)?.to_vec());
                }
                if list.is_empty() {
                    return Err(cut());
                }
                Value::Strs(list)
            }
            Kind::CaaValue => {
                let rest = wire.len() - pos;
                Value::Raw(take(wire, &mut pos, rest, field.name)?.to_vec())
            }
        };
        values.push(value);
    }
    if pos != wire.len() {
        return Err(format!(
            "{} bytes left over after the last field",
            wire.len() - pos
        ));
    }
    Ok(values)
}

fn take<'w>(wire: &'w [u8], pos: &mut usize, n: usize, field: &str) -> Result<&'w [u8], String> {
    let bytes = wire
        .get(*pos..*pos + n)
        .ok_or_else(|| format!("RDATA ends inside the {field}"))?;
    *pos += n;
    Ok(bytes)
}

fn read_name(wire: &[u8], pos: &mut usize, field: &str) -> Result<WireName, String> {
    let start = *pos;
    loop {
        let len = usize::from(
            *wire
                .get(*pos)
                .ok_or_else(|| format!("RDATA ends inside the {field}"))?,
        );
        if len > MAX_LABEL {
            return Err(format!(
                "{field}: label length byte {len:#04x} (compression is not allowed here)"
            ));
        }
        *pos += 1 + len;
        if *pos > wire.len() {
            return Err(format!("RDATA ends inside the {field}"));
        }
        if *pos - start > MAX_NAME {
            return Err(format!("{field}: name over {MAX_NAME} bytes"));
        }
        if len == 0 {
            return Ok(WireName(wire[start..*pos].to_vec()));
        }
    }
}

/// Presentation form of RDATA, as a zone file would hold it (names absolute). Types without
/// a presentation-form parser, and RDATA that does not fit its type, print in the RFC 3597
/// form `\# <length> <hex>`.
pub fn rdata_to_text(rtype: u16, parts: &[RdataPart]) -> String {
    let wire = rdata_to_wire(parts);
    let Some(layout) = layout(rtype) else {
        return generic(&wire);
    };
    let Ok(values) = decode_values(layout, &wire) else {
        return generic(&wire);
    };
    let mut out = String::new();
    for (field, value) in layout.iter().zip(values) {
        if !out.is_empty() {
            out.push(' ');
        }
        match value {
            Value::Int(n) => out.push_str(&n.to_string()),
            Value::V4(a) => out.push_str(&a.to_string()),
            Value::V6(a) => out.push_str(&a.to_string()),
            Value::Name(n) => out.push_str(&n.to_ascii()),
            Value::Str(s) if field.kind == Kind::CaaTag => {
                out.push_str(&String::from_utf8_lossy(&s));
            }
            Value::Str(s) | Value::Raw(s) => quote(&mut out, &s),
            Value::Strs(list) => {
                for (i, s) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    quote(&mut out, s);
                }
            }
        }
    }
    out
}

fn quote(out: &mut String, s: &[u8]) {
    out.push('"');
    for &b in s {
        push_escaped(out, b, true);
    }
    out.push('"');
}

fn generic(wire: &[u8]) -> String {
    let mut out = format!("\\# {}", wire.len());
    if !wire.is_empty() {
        out.push(' ');
        for b in wire {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}
