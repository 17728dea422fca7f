//! The compiled zone tree: zones by origin with longest-match selection, nodes (owner
//! names, case-insensitive) holding RRsets, empty non-terminals, wildcards, delegation
//! points and DNAMEs, and [`Zone::lookup`], the RFC 1034 section 4.3.2 / RFC 4592 walk.
//!
//! Built once per load from the zone-file reader's [`ParsedZone`](crate::dns::zonefile::ParsedZone) (see `zone/build.rs`);
//! immutable afterwards and read lock-free from the query path.

mod build;
mod compact;

pub use build::{LoadError, build_zone, load_zones, load_zones_with, origin_from_path};
pub use compact::load_zones_compact;

use crate::dns::encode::Writer;
use crate::dns::name::{self, MAX_LABELS, MAX_NAME, NameMap};

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_MX: u16 = 15;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_DNAME: u16 = 39;
pub const TYPE_DS: u16 = 43;

/// One piece of RDATA: raw bytes or a domain name (which may be compressed on output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Bytes(Box<[u8]>),
    Name { name: Box<[u8]>, compress: bool },
}

/// The RDATA of one record, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rdata(pub Box<[Seg]>);

impl Rdata {
    pub fn write(&self, w: &mut Writer<'_>) {
        for s in self.0.iter() {
            match s {
                Seg::Bytes(b) => w.bytes(b),
                Seg::Name { name, compress } => w.name(name, *compress),
            }
        }
    }

    /// The first domain name in the RDATA (CNAME/DNAME/NS target, MX exchange, SRV target).
    pub fn first_name(&self) -> Option<&[u8]> {
        self.0.iter().find_map(|s| match s {
            Seg::Name { name, .. } => Some(&name[..]),
            Seg::Bytes(_) => None,
        })
    }
}

/// All records of one type at one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    pub rtype: u16,
    pub class: u16,
    /// One TTL per record, in the same order as `rdatas` (kept as written, like NSD).
    pub ttls: Box<[u32]>,
    pub rdatas: Box<[Rdata]>,
}

/// One owner name in a zone (possibly an empty non-terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The owner name as first written in the zone file.
    pub name: Box<[u8]>,
    /// RRsets in the order their types first appear in the zone file.
    pub rrsets: Box<[RRset]>,
    /// A delegation point: NS below the apex.
    pub cut: bool,
    /// Index of this node's `*` child, if there is one.
    pub wildcard: Option<u32>,
}

impl Node {
    pub fn rrset(&self, rtype: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }

    /// The one RRset an ANY query gets (RFC 8482 section 4.1), chosen as NSD does: the
    /// first of A, AAAA, SOA, MX, PTR in zone-file order, else the first other RRset.
    pub fn any_rrset(&self) -> Option<&RRset> {
        let preferred = |t: u16| matches!(t, TYPE_A | TYPE_AAAA | TYPE_SOA | TYPE_MX | TYPE_PTR);
        self.rrsets
            .iter()
            .find(|r| preferred(r.rtype))
            .or_else(|| self.rrsets.first())
    }

    pub fn is_empty_non_terminal(&self) -> bool {
        self.rrsets.is_empty()
    }
}

/// One zone.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Lower-cased origin.
    pub origin: Box<[u8]>,
    pub nodes: Box<[Node]>,
    pub index: NameMap<u32>,
    /// Index of the apex node.
    pub apex: u32,
    /// TTL for negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 section 5).
    pub negative_ttl: u32,
}

/// What the walk found for a (lower-cased) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'z> {
    /// The name exists (it may be an empty non-terminal).
    Found(&'z Node),
    /// The name does not exist; this wildcard node (RFC 4592) synthesizes it.
    Wildcard(&'z Node),
    /// The name is at or below this delegation point.
    Referral(&'z Node),
    /// The name is below this node, which owns a DNAME.
    Dname(&'z Node),
    /// The name does not exist.
    NxDomain,
}

impl Zone {
    pub fn node(&self, idx: u32) -> Option<&Node> {
        self.nodes.get(idx as usize)
    }

    pub fn apex(&self) -> &Node {
        &self.nodes[self.apex as usize]
    }

    /// Exact node for a lower-cased name, without any delegation or wildcard logic.
    pub fn exact(&self, lname: &[u8]) -> Option<&Node> {
        self.index.get(lname).and_then(|&i| self.node(i))
    }

    /// Walks from the apex down to `lname` (lower-cased, at or below the origin).
    /// `qtype` matters only for DS, which the parent side of a cut answers.
    pub fn lookup(&self, lname: &[u8], qtype: u16) -> Lookup<'_> {
        let mut offs = [0u8; MAX_LABELS];
        let n = name::label_offsets(lname, &mut offs);
        let Some(apex_i) = (0..n)
            .rev()
            .find(|&i| lname.len() - offs[i] as usize == self.origin.len())
        else {
            return Lookup::NxDomain;
        };
        let mut encloser = self.apex();
        for i in (0..=apex_i).rev() {
            let suffix = &lname[offs[i] as usize..];
            let Some(node) = self.exact(suffix) else {
                return match encloser.wildcard.and_then(|w| self.node(w)) {
                    Some(w) => Lookup::Wildcard(w),
                    None => Lookup::NxDomain,
                };
            };
            if i < apex_i && node.cut && !(i == 0 && qtype == TYPE_DS) {
                return Lookup::Referral(node);
            }
            if i > 0 && node.rrset(TYPE_DNAME).is_some() {
                return Lookup::Dname(node);
            }
            encloser = node;
        }
        Lookup::Found(encloser)
    }
}

/// Every loaded zone, selected by longest match.
#[derive(Debug, Clone, Default)]
pub struct ZoneSet {
    pub zones: Vec<Zone>,
    by_origin: NameMap<u32>,
}

impl ZoneSet {
    /// Adds a zone; a zone with the same origin replaces the earlier one.
    pub fn insert(&mut self, zone: Zone) {
        match self.by_origin.get(&zone.origin) {
            Some(&i) => self.zones[i as usize] = zone,
            None => {
                self.by_origin
                    .insert(zone.origin.clone(), self.zones.len() as u32);
                self.zones.push(zone);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// The zone with the longest origin that `lname` (lower-cased) is at or below.
    pub fn find(&self, lname: &[u8]) -> Option<&Zone> {
        let mut pos = 0usize;
        loop {
            let suffix = lname.get(pos..)?;
            if let Some(&i) = self.by_origin.get(suffix) {
                return self.zones.get(i as usize);
            }
            let len = *suffix.first()? as usize;
            if len == 0 {
                return None;
            }
            pos += 1 + len;
        }
    }

    /// The zone for an arbitrary-case name.
    pub fn find_any_case(&self, name: &[u8]) -> Option<&Zone> {
        let mut buf = [0u8; MAX_NAME];
        self.find(name::lower_into(name, &mut buf))
    }
}

#[cfg(test)]
pub(crate) mod tests;
