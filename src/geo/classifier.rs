//! Building the classifier from databases, ISP lists and route CIDRs, and querying it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use maxminddb::Reader;

use super::layer::{NONE, Seg, bounds, family_max, nest, overlay};
use super::source::{self, AsnRec, Kind, Walked};
use super::table::{Bits, Run, Table};
use super::{Attributes, CityRec, GeoError, IspId};
use crate::config::{Config, Isp};

/// The compiled classifier. Immutable; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Classifier {
    attrs: Vec<Attributes>,
    orgs: Vec<Box<str>>,
    isp_names: Vec<Box<str>>,
    route_nets: Vec<IpNet>,
    table: KeyTable,
    /// `database_type` of the City and ASN databases, for `check` and `explain`.
    pub databases: Vec<(String, String)>,
}

/// The result of one classification.
#[derive(Debug, Clone, Copy)]
pub struct Classified<'a> {
    pub attrs: &'a Attributes,
    /// Index of `attrs` (equal attributes have equal ids).
    pub id: u32,
    /// Widest prefix around the address with the same attributes, in the address's family.
    pub prefix_len: u8,
}

/// A per-family pair of tables mapping addresses to a key and the widest prefix with that key.
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    v4: Table<u32>,
    v6: Table<u128>,
}

/// Split an address into (is IPv6 table, bits, extra prefix bits for IPv4-mapped).
#[inline]
fn split(addr: IpAddr) -> (bool, u128, u8) {
    match addr {
        IpAddr::V4(a) => (false, u128::from(u32::from(a)), 0),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (false, u128::from(u32::from(v4)), 96),
            None => (true, u128::from(a), 0),
        },
    }
}

impl KeyTable {
    /// The key for `addr` and the widest prefix (in the address's own family) over which
    /// the key stays the same. Never allocates.
    #[inline]
    pub fn lookup(&self, addr: IpAddr) -> (u32, u8) {
        let (v6, bits, extra) = split(addr);
        let (key, len) = if v6 {
            self.v6.lookup(bits)
        } else {
            self.v4.lookup(bits as u32)
        };
        (key, len + extra)
    }

    /// A new table whose keys are `f(old key)`; equal neighbours merge, so blocks only
    /// widen.
    pub fn project(&self, mut f: impl FnMut(u32) -> u32) -> KeyTable {
        KeyTable {
            v4: Table::from_runs(runs_of(&self.v4, false, &mut f)),
            v6: Table::from_runs(runs_of(&self.v6, true, &mut f)),
        }
    }

    /// The first address (IPv4 first, then IPv6) whose key is `key`: a client that gets
    /// that key, for status views. None when no block has it.
    pub fn first_with(&self, key: u32) -> Option<IpAddr> {
        let v4 = self.v4.blocks().find(|b| b.2 == key);
        if let Some((start, _, _)) = v4 {
            return Some(IpAddr::V4(std::net::Ipv4Addr::from(start)));
        }
        self.v6
            .blocks()
            .find(|b| b.2 == key)
            .map(|(start, _, _)| IpAddr::V6(std::net::Ipv6Addr::from(start)))
    }

    /// Number of blocks (IPv4, IPv6).
    pub fn sizes(&self) -> (usize, usize) {
        (self.v4.block_count(), self.v6.block_count())
    }
}

fn runs_of<B: Bits + Into<u128>>(
    t: &Table<B>,
    v6: bool,
    f: &mut impl FnMut(u32) -> u32,
) -> Vec<Run> {
    let blocks: Vec<(B, u8, u32)> = t.blocks().collect();
    let max = family_max(v6);
    let mut runs = Vec::with_capacity(blocks.len());
    for (i, &(start, _, key)) in blocks.iter().enumerate() {
        let end = blocks.get(i + 1).map_or(max, |n| n.0.into() - 1);
        runs.push(Run {
            start: start.into(),
            end,
            key: f(key),
        });
    }
    runs
}

impl Classifier {
    /// Compile the classifier for `config`: open the `[geo]` databases (`.mmdb`, or `.csv`
    /// descriptions), read every ISP's CIDR lists, and collect the CIDRs of route rules.
    pub fn build(config: &Config) -> Result<Classifier, GeoError> {
        let city = match &config.geo.city {
            Some(p) => Some((source::open(p, Kind::City)?, p.as_path())),
            None => None,
        };
        let asn = match &config.geo.asn {
            Some(p) => Some((source::open(p, Kind::Asn)?, p.as_path())),
            None => None,
        };
        let mut route_nets: Vec<IpNet> = config
            .services
            .values()
            .flat_map(|s| {
                s.routes
                    .iter()
                    .flat_map(|r| r.matcher.cidrs.iter().copied())
            })
            .map(super::normalize_net)
            .collect();
        route_nets.sort();
        route_nets.dedup();
        Classifier::from_parts(
            city.as_ref().map(|(r, p)| (r, *p)),
            asn.as_ref().map(|(r, p)| (r, *p)),
            &config.isps,
            route_nets,
        )
    }

    /// Compile from opened readers (each with its path, for messages).
    pub fn from_parts(
        city: Option<(&Reader<Vec<u8>>, &Path)>,
        asn: Option<(&Reader<Vec<u8>>, &Path)>,
        isps: &BTreeMap<String, Isp>,
        route_nets: Vec<IpNet>,
    ) -> Result<Classifier, GeoError> {
        let mut databases = Vec::new();
        let city_w: Walked<CityRec> = match city {
            Some((r, p)) => {
                databases.push((p.display().to_string(), r.metadata().database_type.clone()));
                source::walk_city(r, p)?
            }
            None => Walked::default(),
        };
        let mut orgs = Vec::new();
        let asn_w: Walked<AsnRec> = match asn {
            Some((r, p)) => {
                databases.push((p.display().to_string(), r.metadata().database_type.clone()));
                source::walk_asn(r, p, &mut orgs)?
            }
            None => Walked::default(),
        };
        if isps.len() > usize::from(IspId::MAX) {
            return Err(GeoError::TooMany(usize::from(IspId::MAX)));
        }
        let isp_names: Vec<Box<str>> = isps.keys().map(|k| k.as_str().into()).collect();
        // ISP by CIDR: inline CIDRs and the files' contents, read and checked once by the
        // configuration loader (`Isp::cidrs`); the files are not read again here.
        let mut isp_nets: Vec<(IpNet, u32)> = Vec::new();
        let mut isp_by_asn: HashMap<u32, IspId> = HashMap::new();
        for (i, isp) in isps.values().enumerate() {
            for n in &isp.cidrs {
                isp_nets.push((*n, i as u32));
            }
            for a in &isp.asns {
                isp_by_asn.entry(*a).or_insert(i as IspId);
            }
        }
        let route_vals: Vec<(IpNet, u32)> = route_nets
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i as u32))
            .collect();
        let (isp_v4, isp_v6) = nest_by_family(&isp_nets);
        let (rn_v4, rn_v6) = nest_by_family(&route_vals);

        let mut interner: HashMap<Attributes, u32> = HashMap::new();
        let mut attrs: Vec<Attributes> = Vec::new();
        let mut tables = Vec::with_capacity(2);
        for (v6, city_l, asn_l, isp_l, rn_l) in [
            (false, &city_w.v4, &asn_w.v4, &isp_v4, &rn_v4),
            (true, &city_w.v6, &asn_w.v6, &isp_v6, &rn_v6),
        ] {
            let mut runs = Vec::new();
            for (start, end, [c, a, i, r]) in overlay(
                [&city_l[..], &asn_l[..], &isp_l[..], &rn_l[..]],
                family_max(v6),
            ) {
                let asn_rec = (a != NONE).then(|| asn_w.records[a as usize]);
                let asn = asn_rec.and_then(|r| r.asn);
                let isp = if i != NONE {
                    Some(i as IspId)
                } else {
                    asn.and_then(|n| isp_by_asn.get(&n).copied())
                };
                let at = Attributes {
                    city: if c != NONE {
                        city_w.records[c as usize]
                    } else {
                        CityRec::default()
                    },
                    asn,
                    as_org: asn_rec.and_then(|r| r.org),
                    isp,
                    route_net: (r != NONE).then_some(r),
                };
                let id = match interner.get(&at) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(attrs.len())
                            .ok()
                            .filter(|&id| id < NONE)
                            .ok_or(GeoError::TooMany(NONE as usize))?;
                        attrs.push(at);
                        interner.insert(at, id);
                        id
                    }
                };
                runs.push(Run {
                    start,
                    end,
                    key: id,
                });
            }
            tables.push(runs);
        }
        let v6_runs = tables.pop().unwrap_or_default();
        let v4_runs = tables.pop().unwrap_or_default();
        if attrs.is_empty() {
            attrs.push(Attributes::default());
        }
        Ok(Classifier {
            attrs,
            orgs,
            isp_names,
            route_nets,
            table: KeyTable {
                v4: Table::from_runs(v4_runs),
                v6: Table::from_runs(v6_runs),
            },
            databases,
        })
    }

    /// Classify a client address: its attributes and the widest prefix around it with the
    /// same attributes. One binary search; no allocation.
    #[inline]
    pub fn classify(&self, addr: IpAddr) -> Classified<'_> {
        let (id, prefix_len) = self.table.lookup(addr);
        // Every table entry holds an index into `attrs`; fall back to the empty set.
        let (id, attrs) = match self.attrs.get(id as usize) {
            Some(a) => (id, a),
            None => (0, &self.attrs[0]),
        };
        Classified {
            attrs,
            id,
            prefix_len,
        }
    }

    /// All distinct attribute sets; an id from [`Classified::id`] indexes this.
    pub fn attributes(&self) -> &[Attributes] {
        &self.attrs
    }

    /// The table of attribute ids, to derive coarser per-service tables with
    /// [`KeyTable::project`].
    pub fn table(&self) -> &KeyTable {
        &self.table
    }

    /// ISP names in id order (the configuration's name order).
    pub fn isp_names(&self) -> &[Box<str>] {
        &self.isp_names
    }

    pub fn isp_name(&self, id: IspId) -> Option<&str> {
        self.isp_names.get(usize::from(id)).map(|s| &**s)
    }

    pub fn isp_id(&self, name: &str) -> Option<IspId> {
        self.isp_names
            .iter()
            .position(|n| &**n == name)
            .map(|i| i as IspId)
    }

    pub fn org_name(&self, id: u32) -> Option<&str> {
        self.orgs.get(id as usize).map(|s| &**s)
    }

    /// The route CIDRs (sorted, de-duplicated); [`Attributes::route_net`] indexes this.
    pub fn route_nets(&self) -> &[IpNet] {
        &self.route_nets
    }

    pub fn route_net(&self, id: u32) -> Option<IpNet> {
        self.route_nets.get(id as usize).copied()
    }
}

fn nest_by_family(nets: &[(IpNet, u32)]) -> (Vec<Seg>, Vec<Seg>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (n, val) in nets {
        // IPv4-mapped IPv6 networks are IPv4 networks in disguise.
        let (is6, s, e) = bounds(&super::normalize_net(*n));
        if is6 {
            v6.push((s, e, *val));
        } else {
            v4.push((s, e, *val));
        }
    }
    (nest(v4), nest(v6))
}
