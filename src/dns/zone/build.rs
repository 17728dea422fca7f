//! Compiling a [`ParsedZone`] into a [`Zone`]: checks (in-zone owners, class IN, one SOA at
//! the apex, no CNAME next to other data, no RRset too large for any DNS message), duplicate
//! removal, empty non-terminals,
//! delegation and wildcard links; and [`load_zones`], which loads many files and keeps
//! going past broken ones.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{Node, RRset, Rdata, Seg, TYPE_CNAME, TYPE_DNAME, TYPE_NS, TYPE_SOA, Zone, ZoneSet};
use crate::dns::name::{self, NameMap};
use crate::dns::zonefile::{self, ParsedZone, RdataPart, WireName, ZoneFileError, ZoneRecord};

/// Why a zone was refused. Displays as `file:line: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    File(#[from] ZoneFileError),
    #[error("{}:{line}: {reason}", file.display())]
    Zone {
        file: PathBuf,
        line: usize,
        reason: String,
    },
}

fn fault(file: &Path, line: usize, reason: impl Into<String>) -> LoadError {
    LoadError::Zone {
        file: file.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

fn at(rec: &ZoneRecord, reason: impl Into<String>) -> LoadError {
    fault(&rec.file, rec.line, reason)
}

/// The origin a zone file's name gives: `example.test.zone` -> `example.test.`.
pub fn origin_from_path(path: &Path) -> Result<WireName, LoadError> {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let stem = file.strip_suffix(".zone").filter(|s| !s.is_empty());
    let Some(stem) = stem else {
        return Err(fault(path, 0, "a zone file must be named <origin>.zone"));
    };
    name::from_text(stem)
        .map(WireName)
        .ok_or_else(|| fault(path, 0, format!("{stem:?} is not a valid domain name")))
}

/// Loads every file; broken zones are left out and reported, the others still load.
pub fn load_zones(files: &[PathBuf]) -> (ZoneSet, Vec<LoadError>) {
    load_zones_with(files, crate::config::ZoneFileRules::default())
}

/// [`load_zones`] under `rules` (`$INCLUDE` confinement, size limit).
pub fn load_zones_with(
    files: &[PathBuf],
    rules: crate::config::ZoneFileRules,
) -> (ZoneSet, Vec<LoadError>) {
    let mut set = ZoneSet::default();
    let mut errors = Vec::new();
    for path in files {
        let zone = origin_from_path(path)
            .and_then(|origin| {
                zonefile::parse_file_with(path, &origin, rules).map_err(LoadError::from)
            })
            .and_then(|parsed| build_zone(&parsed, path));
        match zone {
            Ok(z) => set.insert(z),
            Err(e) => errors.push(e),
        }
    }
    (set, errors)
}

/// RRsets of one owner in the order their types first appear (ANY answers depend on it).
#[derive(Default)]
struct Sets(Vec<(u16, SetData)>);

/// TTLs, RDATAs, and the index of the first record (for messages).
type SetData = (Vec<u32>, Vec<Rdata>, usize);

impl Sets {
    fn get(&self, t: &u16) -> Option<&SetData> {
        self.0.iter().find(|(k, _)| k == t).map(|(_, v)| v)
    }
    fn contains_key(&self, t: &u16) -> bool {
        self.get(t).is_some()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn entry_or_new(&mut self, t: u16, first: usize) -> &mut SetData {
        let i = match self.0.iter().position(|(k, _)| *k == t) {
            Some(i) => i,
            None => {
                self.0.push((t, (Vec::new(), Vec::new(), first)));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
}

struct Owner {
    written: Vec<u8>,
    /// rtype -> (ttls, rdatas, first record for messages), in zone-file order.
    sets: Sets,
}

fn to_rdata(parts: &[RdataPart]) -> Rdata {
    Rdata(
        parts
            .iter()
            .map(|p| match p {
                RdataPart::Bytes(b) => Seg::Bytes(b.clone().into_boxed_slice()),
                RdataPart::Name { name, compress } => Seg::Name {
                    name: name.0.clone().into_boxed_slice(),
                    compress: *compress,
                },
            })
            .collect(),
    )
}

/// An RRset: lower-cased owner and type.
type SetKey = (Box<[u8]>, u16);

/// Header and question (without the name) of an answer.
const MESSAGE_OVERHEAD: usize = 12 + 4;
/// Per answer record: the owner as a compression pointer, type, class, TTL, RDLENGTH.
const RECORD_OVERHEAD: usize = 2 + 10;

/// RDATA bytes of one part as the zone stores it (names uncompressed).
fn part_len(p: &RdataPart) -> usize {
    match p {
        RdataPart::Name { name, .. } => name.0.len(),
        RdataPart::Bytes(b) => b.len(),
    }
}

/// Compiles one parsed zone. `path` names the zone in messages that have no record.
pub fn build_zone(parsed: &ParsedZone, path: &Path) -> Result<Zone, LoadError> {
    let origin = name::lowered(&parsed.origin.0);
    let mut owners: BTreeMap<Box<[u8]>, Owner> = BTreeMap::new();
    // Wire size of each RRset's answer so far, by (owner, type): (bytes, first record).
    let mut sizes: HashMap<SetKey, (usize, usize)> = HashMap::new();
    for (i, rec) in parsed.records.iter().enumerate() {
        if rec.class != 1 {
            return Err(at(rec, format!("class {} is not IN", rec.class)));
        }
        let key = name::lowered(&rec.owner.0);
        if !name::is_at_or_below(&key, &origin) {
            let (o, z) = (name::to_text(&rec.owner.0), name::to_text(&origin));
            return Err(at(rec, format!("owner {o} is outside the zone {z}")));
        }
        let owner = owners.entry(key).or_insert_with(|| Owner {
            written: rec.owner.0.clone(),
            sets: Sets::default(),
        });
        let set = owner.sets.entry_or_new(rec.rtype, i);
        let rdata = to_rdata(&rec.rdata);
        if !set.1.contains(&rdata) {
            set.0.push(rec.ttl);
            set.1.push(rdata);
            let size = sizes
                .entry((name::lowered(&rec.owner.0), rec.rtype))
                .or_insert((MESSAGE_OVERHEAD + rec.owner.0.len(), i));
            size.0 += RECORD_OVERHEAD + rec.rdata.iter().map(part_len).sum::<usize>();
            if size.0 > usize::from(u16::MAX) {
                let first = &parsed.records[size.1];
                return Err(at(
                    first,
                    format!(
                        "this RRset ({} records from here on) takes over 65535 bytes in an \
                         answer, more than any DNS message can carry (RFC 1035 s4.2.2); split \
                         it or shorten its records",
                        set.1.len()
                    ),
                ));
            }
        }
    }
    check(parsed, path, &origin, &owners)?;
    let negative_ttl = negative_ttl(parsed, &origin, &owners)?;

    // Empty non-terminals: every name between an owner and the origin exists.
    let keys: Vec<(Box<[u8]>, Vec<u8>)> = owners
        .iter()
        .map(|(k, o)| (k.clone(), o.written.clone()))
        .collect();
    for (key, written) in keys {
        let (mut k, mut w): (&[u8], &[u8]) = (&key, &written);
        while k.len() > origin.len() {
            let (Some(pk), Some(pw)) = (name::parent(k), name::parent(w)) else {
                break;
            };
            owners.entry(pk.into()).or_insert_with(|| Owner {
                written: pw.to_vec(),
                sets: Sets::default(),
            });
            (k, w) = (pk, pw);
        }
    }

    let mut index: NameMap<u32> = NameMap::default();
    let mut nodes = Vec::with_capacity(owners.len());
    for (i, (key, owner)) in owners.into_iter().enumerate() {
        let is_apex = *key == *origin;
        let rrsets: Vec<RRset> = owner
            .sets
            .0
            .into_iter()
            .map(|(rtype, (ttls, rdatas, _))| RRset {
                rtype,
                class: 1,
                ttls: ttls.into(),
                rdatas: rdatas.into(),
            })
            .collect();
        let cut = !is_apex && rrsets.iter().any(|r| r.rtype == TYPE_NS);
        nodes.push(Node {
            name: owner.written.into(),
            rrsets: rrsets.into(),
            cut,
            wildcard: None,
        });
        index.insert(key, i as u32);
    }
    let mut links = Vec::new();
    for (key, &i) in &index {
        if key.starts_with(b"\x01*")
            && let Some(&p) = name::parent(key).and_then(|p| index.get(p))
        {
            links.push((p, i));
        }
    }
    for (p, i) in links {
        nodes[p as usize].wildcard = Some(i);
    }
    let apex = index
        .get(&origin)
        .copied()
        .ok_or_else(|| fault(path, 0, "zone has no SOA at its apex"))?;
    Ok(Zone {
        origin,
        nodes: nodes.into(),
        index,
        apex,
        negative_ttl,
    })
}

fn check(
    parsed: &ParsedZone,
    path: &Path,
    origin: &[u8],
    owners: &BTreeMap<Box<[u8]>, Owner>,
) -> Result<(), LoadError> {
    let rec = |i: usize| &parsed.records[i];
    for (key, owner) in owners {
        if let Some((_, rd, first)) = owner.sets.get(&TYPE_SOA) {
            if **key != *origin {
                return Err(at(rec(*first), "SOA record is not at the zone apex"));
            }
            if rd.len() > 1 {
                return Err(at(rec(*first), "more than one SOA record at the apex"));
            }
        }
        if let Some((_, rd, first)) = owner.sets.get(&TYPE_CNAME) {
            if rd.len() > 1 {
                return Err(at(rec(*first), "more than one CNAME record at one name"));
            }
            if owner.sets.len() > 1 {
                return Err(at(
                    rec(*first),
                    "CNAME and other data at the same name (RFC 1034 section 3.6.2)",
                ));
            }
        }
        if let Some((_, rd, first)) = owner.sets.get(&TYPE_DNAME)
            && rd.len() > 1
        {
            return Err(at(rec(*first), "more than one DNAME record at one name"));
        }
    }
    match owners.get(origin) {
        Some(o) if o.sets.contains_key(&TYPE_SOA) => Ok(()),
        _ => Err(fault(
            path,
            0,
            format!(
                "zone {} has no SOA record at its apex",
                name::to_text(origin)
            ),
        )),
    }
}

/// min(SOA TTL, SOA MINIMUM) (RFC 2308 section 5).
fn negative_ttl(
    parsed: &ParsedZone,
    origin: &[u8],
    owners: &BTreeMap<Box<[u8]>, Owner>,
) -> Result<u32, LoadError> {
    let (ttls, rdatas, first) = owners
        .get(origin)
        .and_then(|o| o.sets.get(&TYPE_SOA))
        .ok_or_else(|| fault(Path::new(""), 0, "no SOA"))?;
    let bad = || at(&parsed.records[*first], "SOA RDATA is malformed");
    let Some(Seg::Bytes(tail)) = rdatas.first().and_then(|r| r.0.last()) else {
        return Err(bad());
    };
    let min = tail
        .len()
        .checked_sub(4)
        .and_then(|s| tail.get(s..))
        .ok_or_else(bad)?;
    let minimum = u32::from_be_bytes([min[0], min[1], min[2], min[3]]);
    Ok(ttls.first().copied().unwrap_or(0).min(minimum))
}
