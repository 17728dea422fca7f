//! The client classifier: MaxMind DB readers, ISP CIDR lists and the compiled prefix table.
//!
//! Everything is compiled once per configuration load ([`Classifier::build`]): the networks
//! of the City/Country database and of the ASN/ISP database are walked (not looked up per
//! query), overlaid with the ISPs' CIDR lists and the CIDRs named by route rules, and every
//! distinct combination of attributes is interned. The result is one sorted table of
//! maximal CIDR blocks per address family. [`Classifier::classify`] is one binary search:
//! it returns a reference to the client's [`Attributes`] and the widest prefix around the
//! address over which none of them changes (the ECS scope). No allocation, no lock, no I/O.
//!
//! IPv4-mapped IPv6 clients (`::ffff:a.b.c.d`) are classified as the IPv4 address; their
//! prefix length is reported in IPv6 terms (96 + the IPv4 length).

mod classifier;
#[cfg(test)]
pub(crate) mod fixture;
mod layer;
pub mod mmdb_writer;
mod source;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

pub use classifier::{Classified, Classifier, KeyTable};
pub use source::{Kind, csv_to_mmdb};

use crate::config::Location;

/// A network with IPv4-mapped IPv6 form (`::ffff:a.b.c.d/n`, n >= 96) rewritten as the
/// IPv4 network it is, host bits cleared.
pub fn normalize_net(net: ipnet::IpNet) -> ipnet::IpNet {
    match net {
        ipnet::IpNet::V6(n) if n.prefix_len() >= 96 => match n.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::IpNet::new(v4.into(), n.prefix_len() - 96).unwrap_or(net),
            None => net,
        },
        _ => net,
    }
    .trunc()
}

/// Why the classifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error(transparent)]
    Read(#[from] crate::files::FileError),
    #[error("{}:{line}: {message}", file.display())]
    Csv {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: bad MaxMind DB: {message}", path.display())]
    Mmdb { path: PathBuf, message: String },
    #[error("more than {0} distinct ISPs, networks or attribute sets")]
    TooMany(usize),
}

/// A short upper-case code (continent, ISO 3166-1 country, ISO 3166-2 subdivision part),
/// stored inline so attributes need no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code {
    bytes: [u8; 7],
    len: u8,
}

impl Code {
    /// Upper-cased; `None` if empty, longer than 7 bytes or not ASCII alphanumeric.
    pub fn new(s: &str) -> Option<Code> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > 7 || !b.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut bytes = [0u8; 7];
        for (d, s) in bytes.iter_mut().zip(b) {
            *d = s.to_ascii_uppercase();
        }
        Some(Code {
            bytes,
            len: b.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        // Built only from ASCII alphanumerics.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An ISP of the configuration: index into [`Classifier::isp_names`] (name order).
pub type IspId = u16;

/// What the City/Country database says about a network.
#[derive(Debug, Clone, Copy, Default)]
pub struct CityRec {
    pub continent: Option<Code>,
    pub country: Option<Code>,
    /// The first subdivision's ISO code (the part after `CC-`).
    pub subdivision: Option<Code>,
    pub location: Option<Location>,
}

fn loc_bits(l: &Option<Location>) -> Option<(u64, u64)> {
    l.map(|l| (l.lat.to_bits(), l.lon.to_bits()))
}

impl PartialEq for CityRec {
    fn eq(&self, o: &Self) -> bool {
        (
            self.continent,
            self.country,
            self.subdivision,
            loc_bits(&self.location),
        ) == (o.continent, o.country, o.subdivision, loc_bits(&o.location))
    }
}
impl Eq for CityRec {}
impl Hash for CityRec {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (
            self.continent,
            self.country,
            self.subdivision,
            loc_bits(&self.location),
        )
            .hash(h);
    }
}

/// Everything Meridian knows about a client address. Equal attributes give equal answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Attributes {
    pub city: CityRec,
    pub asn: Option<u32>,
    /// AS organisation: index into [`Classifier::org_name`].
    pub as_org: Option<u32>,
    /// The configured ISP: by CIDR list first (most specific wins), then by ASN.
    pub isp: Option<IspId>,
    /// The most specific route-rule CIDR containing the address: index into
    /// [`Classifier::route_net`]. Route CIDRs nest, so this names all of them.
    pub route_net: Option<u32>,
}
