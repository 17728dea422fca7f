//! TEMPORARY stand-in for the zone-file reader (branch `zonefile` owns the real
//! `src/dns/zonefile.rs`): the same public API, built on hickory-proto's text parser, so the
//! zone tree and the NSD oracle test can run before the real reader lands. Line numbers
//! are not tracked (reported as 0 for per-record faults). Delete this file on merge.

use std::fmt;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::serialize::txt::Parser;

/// Uncompressed wire form, case as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireName(pub Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdataPart {
    Name { name: WireName, compress: bool },
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRecord {
    pub owner: WireName,
    pub ttl: u32,
    pub class: u16,
    pub rtype: u16,
    pub rdata: Vec<RdataPart>,
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedZone {
    pub origin: WireName,
    pub records: Vec<ZoneRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFileError {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ZoneFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

impl std::error::Error for ZoneFileError {}

fn err(path: &Path, reason: String) -> ZoneFileError {
    ZoneFileError {
        file: path.to_path_buf(),
        line: 0,
        reason,
    }
}

fn name_wire(n: &Name) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    let mut e = BinEncoder::new(&mut v);
    e.set_name_encoding(NameEncoding::Uncompressed);
    n.emit(&mut e).map_err(|e| e.to_string())?;
    Ok(v)
}

/// Splits uncompressed RDATA into name and byte parts for the types whose names matter.
fn split(rtype: u16, raw: &[u8]) -> Vec<RdataPart> {
    use crate::dns::name::wire_len;
    let name_at = |at: usize, compress: bool| -> Option<(RdataPart, usize)> {
        let len = wire_len(raw.get(at..)?)?;
        Some((
            RdataPart::Name {
                name: WireName(raw[at..at + len].to_vec()),
                compress,
            },
            at + len,
        ))
    };
    let parts = (|| -> Option<Vec<RdataPart>> {
        match rtype {
            2 | 5 | 12 => Some(vec![name_at(0, true)?.0]),
            39 => Some(vec![name_at(0, false)?.0]),
            15 => Some(vec![
                RdataPart::Bytes(raw.get(..2)?.to_vec()),
                name_at(2, true)?.0,
            ]),
            33 => Some(vec![
                RdataPart::Bytes(raw.get(..6)?.to_vec()),
                name_at(6, false)?.0,
            ]),
            6 => {
                let (m, at) = name_at(0, true)?;
                let (r, at) = name_at(at, true)?;
                Some(vec![m, r, RdataPart::Bytes(raw.get(at..)?.to_vec())])
            }
            _ => None,
        }
    })();
    parts.unwrap_or_else(|| vec![RdataPart::Bytes(raw.to_vec())])
}

pub fn parse_file(path: &Path, origin: &WireName) -> Result<ParsedZone, ZoneFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, e.to_string()))?;
    let origin_name =
        Name::from_wire_form(&origin.0).ok_or_else(|| err(path, "bad origin".into()))?;
    // hickory's text parser lacks DNAME: parse those lines as CNAME and retype them after.
    let origin_text = crate::dns::name::to_text(&origin.0);
    let mut dname_owners = Vec::new();
    let text: String = text
        .lines()
        .map(|l| {
            let toks: Vec<&str> = l
                .split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if toks.contains(&"DNAME") && !l.starts_with(char::is_whitespace) {
                let o = toks[0];
                let abs = if o == "@" {
                    origin_text.clone()
                } else if o.ends_with('.') {
                    o.to_string()
                } else {
                    format!("{o}.{origin_text}")
                };
                dname_owners.push(abs.to_ascii_lowercase());
                return l.replace("DNAME", "CNAME") + "\n";
            }
            l.to_string() + "\n"
        })
        .collect();
    let (_, sets) = Parser::new(text, Some(path.to_path_buf()), Some(origin_name))
        .parse()
        .map_err(|e| err(path, e.to_string()))?;
    let mut records = Vec::new();
    for set in sets.values() {
        for r in set.records_without_rrsigs() {
            let mut raw = Vec::new();
            let mut e = BinEncoder::new(&mut raw);
            e.set_name_encoding(NameEncoding::Uncompressed);
            r.data.emit(&mut e).map_err(|e| err(path, e.to_string()))?;
            let mut rtype = u16::from(r.record_type());
            if rtype == 5 && dname_owners.contains(&r.name.to_ascii().to_ascii_lowercase()) {
                rtype = 39;
            }
            records.push(ZoneRecord {
                owner: WireName(name_wire(&r.name).map_err(|e| err(path, e))?),
                ttl: r.ttl,
                class: u16::from(r.dns_class),
                rtype,
                rdata: split(rtype, &raw),
                file: path.to_path_buf(),
                line: 0,
            });
        }
    }
    // Real zone files start with the SOA; hickory's map lost the order, so restore that much.
    records.sort_by_key(|r| r.rtype != 6);
    Ok(ParsedZone {
        origin: origin.clone(),
        records,
    })
}

trait FromWire {
    fn from_wire_form(b: &[u8]) -> Option<Name>;
}

impl FromWire for Name {
    fn from_wire_form(b: &[u8]) -> Option<Name> {
        Name::from_ascii(crate::dns::name::to_text(b)).ok()
    }
}
