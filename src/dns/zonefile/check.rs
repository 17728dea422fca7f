//! Zone-wide rules over the records of a whole zone (all included files together): exactly one
//! SOA, at the apex; no CNAME beside other data; at most one DNAME per name and nothing below
//! it. Also normalises the zone as RFC 2181 s5 asks: identical records are kept once, and every
//! record of an RRset gets the TTL of the first one read (BIND does the same).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::name::WireName;
use super::rdata::RdataPart;
use super::rtype::{self, type_to_text};
use super::{ZoneFileError, ZoneRecord};

#[derive(Default)]
struct AtName {
    /// Small number standing for the owner in the other maps.
    id: usize,
    cname: Option<usize>,
    /// First record of a type that may not sit beside a CNAME.
    other: Option<usize>,
    dname: Option<usize>,
}

/// Applies the zone-wide rules; `top` is the zone's main file, named by "missing SOA".
pub(super) fn check_zone(
    zone: &WireName,
    records: Vec<ZoneRecord>,
    top: &Path,
) -> Result<Vec<ZoneRecord>, ZoneFileError> {
    let mut out: Vec<ZoneRecord> = Vec::with_capacity(records.len());
    let mut seen: HashSet<(usize, u16, Vec<u8>)> = HashSet::with_capacity(records.len());
    let mut names: HashMap<Vec<u8>, AtName> = HashMap::with_capacity(records.len());
    let mut rrset_ttl: HashMap<(usize, u16), u32> = HashMap::with_capacity(records.len());
    let mut soa: Option<usize> = None;
    let mut dnames: Vec<usize> = Vec::new();

    for mut rec in records {
        let next_id = names.len();
        let at = names
            .entry(rec.owner.to_lowercase().0)
            .or_insert_with(|| AtName {
                id: next_id,
                ..AtName::default()
            });
        let owner = at.id;
        if !seen.insert((owner, rec.rtype, rdata_key(&rec.rdata))) {
            continue;
        }
        let idx = out.len();
        let fail = |reason: String| Err(fail_at(&rec, reason));
        if rec.rtype == rtype::SOA {
            if !rec.owner.eq_ignore_case(zone) {
                return fail(format!(
                    "SOA record at {}, which is not the zone apex {zone}",
                    rec.owner
                ));
            }
            if let Some(first) = soa {
                return fail(format!(
                    "second SOA record for {zone} (the first is at {}); a zone has exactly one",
                    place(&out[first])
                ));
            }
            soa = Some(idx);
        }
        if rec.rtype == rtype::CNAME {
            if let Some(first) = at.cname {
                return fail(format!(
                    "second CNAME at {} (the first is at {}); a name has at most one CNAME (RFC 1034 s3.6.2)",
                    rec.owner,
                    place(&out[first])
                ));
            }
            if let Some(other) = at.other {
                return fail(format!(
                    "CNAME at {} beside other data ({} at {}); RFC 1034 s3.6.2 and RFC 2181 s10.1 forbid it",
                    rec.owner,
                    type_to_text(out[other].rtype),
                    place(&out[other])
                ));
            }
            at.cname = Some(idx);
        } else if !matches!(rec.rtype, rtype::RRSIG | rtype::NSEC) {
            if let Some(cname) = at.cname {
                return fail(format!(
                    "{} at {} beside a CNAME (at {}); RFC 1034 s3.6.2 and RFC 2181 s10.1 forbid it",
                    type_to_text(rec.rtype),
                    rec.owner,
                    place(&out[cname])
                ));
            }
            at.other.get_or_insert(idx);
        }
        if rec.rtype == rtype::DNAME {
            if let Some(first) = at.dname {
                return fail(format!(
                    "second DNAME at {} (the first is at {}); RFC 6672 s2.4 allows one",
                    rec.owner,
                    place(&out[first])
                ));
            }
            at.dname = Some(idx);
            dnames.push(idx);
        }
        if rec.rtype != rtype::RRSIG {
            rec.ttl = *rrset_ttl.entry((owner, rec.rtype)).or_insert(rec.ttl);
        }
        out.push(rec);
    }

    if !dnames.is_empty() {
        let owners: HashMap<Vec<u8>, usize> = dnames
            .iter()
            .map(|&d| (out[d].owner.to_lowercase().0, d))
            .collect();
        for rec in &out {
            let wire = rec.owner.to_lowercase().0;
            let mut pos = 0;
            // Walk the strict ancestors of the owner.
            while let Some(&len) = wire.get(pos).filter(|&&l| l != 0) {
                pos += 1 + usize::from(len);
                let Some(&d) = wire.get(pos..).and_then(|suffix| owners.get(suffix)) else {
                    continue;
                };
                let dname = &out[d];
                return Err(fail_at(
                    rec,
                    format!(
                        "{} lies below the DNAME at {} ({}); RFC 6672 s2.4 forbids data there",
                        rec.owner,
                        dname.owner,
                        place(dname)
                    ),
                ));
            }
        }
    }
    if soa.is_none() {
        return Err(ZoneFileError {
            file: top.to_path_buf(),
            line: 1,
            column: 0,
            reason: format!("missing SOA record at the zone apex {zone}"),
        });
    }
    Ok(out)
}

/// RDATA for duplicate detection: names compare without case (RFC 4343).
fn rdata_key(parts: &[RdataPart]) -> Vec<u8> {
    let mut key = Vec::new();
    for part in parts {
        match part {
            RdataPart::Name { name, .. } => key.extend(name.0.iter().map(u8::to_ascii_lowercase)),
            RdataPart::Bytes(b) => key.extend_from_slice(b),
        }
    }
    key
}

fn place(rec: &ZoneRecord) -> String {
    format!("{}:{}", rec.file.display(), rec.line)
}

fn fail_at(rec: &ZoneRecord, reason: String) -> ZoneFileError {
    ZoneFileError {
        file: rec.file.clone(),
        line: rec.line,
        column: 0,
        reason,
    }
}
