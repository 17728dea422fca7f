//! Database sources: open a MaxMind DB (or a CSV description of one) and walk its networks
//! into layers of de-duplicated records.
//!
//! A path ending in `.csv` is turned into real MMDB bytes in memory by
//! [`super::mmdb_writer`] and then read by the same `maxminddb` reader as a `.mmdb` file, so
//! the example configuration shows geo answers without shipping a database. CSV columns:
//! city: `network,continent,country,subdivision,latitude,longitude`;
//! asn: `network,asn,organization` (the organization may contain commas). Empty fields are
//! absent values; `#` starts a comment line.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use maxminddb::{Reader, WithinOptions};
use serde::Deserialize;

use super::layer::{Seg, bounds};
use super::mmdb_writer::{Value, Writer};
use super::{CityRec, Code, GeoError};
use crate::config::Location;

/// Which slot of `[geo]` a database fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    City,
    Asn,
}

/// An AS number and the index of its organisation name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AsnRec {
    pub asn: Option<u32>,
    pub org: Option<u32>,
}

/// Records and their IPv4 / IPv6 segments (values index the records).
#[derive(Debug, Default)]
pub struct Walked<T> {
    pub records: Vec<T>,
    pub v4: Vec<Seg>,
    pub v6: Vec<Seg>,
}

/// Open `path` as a MaxMind DB, or build one from CSV when the name ends in `.csv`.
pub fn open(path: &Path, kind: Kind) -> Result<Reader<Vec<u8>>, GeoError> {
    let bytes = crate::files::read(path, crate::files::limit::GEO)?;
    let bytes = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let text = String::from_utf8(bytes).map_err(|_| GeoError::Csv {
            file: path.to_path_buf(),
            line: 0,
            message: "not UTF-8 text".into(),
        })?;
        csv_to_mmdb(&text, path, kind)?
    } else {
        bytes
    };
    let reader = Reader::from_source(bytes).map_err(|e| GeoError::Mmdb {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    check_type(&reader.metadata().database_type, kind).map_err(|message| GeoError::Mmdb {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(reader)
}

/// Refuses a database given in the wrong slot, judged by its `database_type` metadata
/// (`GeoLite2-ASN` as `city`, `GeoIP2-City` as `asn`). A type that names neither kind
/// (a private build) is accepted.
pub fn check_type(db_type: &str, kind: Kind) -> Result<(), String> {
    let t = db_type.to_ascii_lowercase();
    let asn_like = t.contains("asn") || t.contains("isp");
    let city_like = t.contains("city") || t.contains("country") || t.contains("enterprise");
    match kind {
        Kind::City if asn_like && !city_like => Err(format!(
            "database type {db_type:?} is an ASN/ISP database; it belongs in [geo] asn, not city"
        )),
        Kind::Asn if city_like && !asn_like => Err(format!(
            "database type {db_type:?} is a City/Country database; it belongs in [geo] city, \
             not asn"
        )),
        _ => Ok(()),
    }
}

/// The codes of a City row: continent one of the seven MaxMind codes, country two letters
/// (ISO 3166-1), subdivision 1 to 3 letters or digits (the part after the dash in ISO
/// 3166-2), coordinates within range. Messages name the field, never its text.
fn city_codes(cols: &[&str]) -> Result<(), String> {
    const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];
    if !cols[1].is_empty() && !CONTINENTS.contains(&cols[1]) {
        return Err("field 2: expected a continent code: AF AN AS EU NA OC SA".into());
    }
    let country_ok = cols[2].len() == 2 && cols[2].bytes().all(|b| b.is_ascii_uppercase());
    if !cols[2].is_empty() && !country_ok {
        return Err("field 3: expected a two-letter upper-case country code (ISO 3166-1)".into());
    }
    let sub_ok = (1..=3).contains(&cols[3].len())
        && cols[3]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !cols[3].is_empty() && !sub_ok {
        return Err("field 4: expected 1 to 3 upper-case letters or digits (ISO 3166-2)".into());
    }
    let range = |s: &str, max: f64| s.is_empty() || s.parse::<f64>().is_ok_and(|v| v.abs() <= max);
    if !range(cols[4], 90.0) || !range(cols[5], 180.0) {
        return Err("fields 5 and 6: latitude in -90..=90, longitude in -180..=180".into());
    }
    Ok(())
}

/// Build MMDB bytes from the CSV description (see the module docs).
pub fn csv_to_mmdb(text: &str, file: &Path, kind: Kind) -> Result<Vec<u8>, GeoError> {
    let bad = |line: usize, message: String| GeoError::Csv {
        file: file.to_path_buf(),
        line,
        message,
    };
    let (db_type, ncols) = match kind {
        Kind::City => ("Meridian-Example-City", 6),
        Kind::Asn => ("Meridian-Example-ASN", 3),
    };
    let mut w = Writer::new(db_type, "built by meridian from a CSV description");
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.splitn(ncols, ',').map(str::trim).collect();
        if cols.len() != ncols {
            return Err(bad(
                i + 1,
                format!("expected {ncols} comma-separated fields"),
            ));
        }
        let net: IpNet = cols[0].parse().map_err(|_| {
            bad(
                i + 1,
                "field 1: expected a network such as 192.0.2.0/24".into(),
            )
        })?;
        let mut rec: Vec<(String, Value)> = Vec::new();
        match kind {
            Kind::City => {
                city_codes(&cols).map_err(|m| bad(i + 1, m))?;
                if !cols[1].is_empty() {
                    rec.push((
                        "continent".into(),
                        Value::map([("code", Value::str(cols[1]))]),
                    ));
                }
                if !cols[2].is_empty() {
                    rec.push((
                        "country".into(),
                        Value::map([("iso_code", Value::str(cols[2]))]),
                    ));
                }
                if !cols[3].is_empty() {
                    let sub = Value::map([("iso_code", Value::str(cols[3]))]);
                    rec.push(("subdivisions".into(), Value::Array(vec![sub])));
                }
                match (cols[4].is_empty(), cols[5].is_empty()) {
                    (true, true) => {}
                    (false, false) => {
                        let num = |s: &str| {
                            s.parse::<f64>()
                                .ok()
                                .filter(|v| v.is_finite())
                                .ok_or_else(|| {
                                    bad(i + 1, "fields 5 and 6: expected decimal degrees".into())
                                })
                        };
                        let loc = Value::map([
                            ("latitude", Value::Double(num(cols[4])?)),
                            ("longitude", Value::Double(num(cols[5])?)),
                        ]);
                        rec.push(("location".into(), loc));
                    }
                    _ => return Err(bad(i + 1, "latitude and longitude go together".into())),
                }
            }
            Kind::Asn => {
                if !cols[1].is_empty() {
                    let asn: u32 = cols[1].trim_start_matches("AS").parse().map_err(|_| {
                        bad(
                            i + 1,
                            "field 2: expected an AS number (e.g. 4134 or AS4134)".into(),
                        )
                    })?;
                    rec.push(("autonomous_system_number".into(), Value::U32(asn)));
                }
                if !cols[2].is_empty() {
                    rec.push(("autonomous_system_organization".into(), Value::str(cols[2])));
                }
            }
        }
        w.insert(net, &Value::Map(rec))
            .map_err(|e| bad(i + 1, e.to_string()))?;
    }
    w.finish().map_err(|e| bad(0, e.to_string()))
}

#[derive(Deserialize)]
struct CodeDoc<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct IsoDoc<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct LocDoc {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct CityDoc<'a> {
    #[serde(borrow, default)]
    continent: Option<CodeDoc<'a>>,
    #[serde(borrow, default)]
    country: Option<IsoDoc<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<IsoDoc<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<IsoDoc<'a>>>,
    #[serde(default)]
    location: Option<LocDoc>,
}

#[derive(Deserialize)]
struct AsnDoc<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
    /// GeoIP2 ISP databases name the organisation here.
    #[serde(borrow, default)]
    organization: Option<&'a str>,
}

fn city_rec(d: CityDoc<'_>) -> CityRec {
    let country = d
        .country
        .and_then(|c| c.iso_code)
        .or(d.registered_country.and_then(|c| c.iso_code));
    let location = d.location.and_then(|l| match (l.latitude, l.longitude) {
        (Some(lat), Some(lon)) => Some(Location { lat, lon }),
        _ => None,
    });
    CityRec {
        continent: d.continent.and_then(|c| c.code).and_then(Code::new),
        country: country.and_then(Code::new),
        subdivision: d
            .subdivisions
            .and_then(|s| s.into_iter().next())
            .and_then(|s| s.iso_code)
            .and_then(Code::new),
        location,
    }
}

/// Walk every network of a City/Country database.
pub fn walk_city(reader: &Reader<Vec<u8>>, path: &Path) -> Result<Walked<CityRec>, GeoError> {
    walk(reader, path, |r| {
        Ok(r.decode::<CityDoc<'_>>()?.map(city_rec).unwrap_or_default())
    })
}

/// Walk every network of an ASN/ISP database; organisation names go to `orgs`.
pub fn walk_asn(
    reader: &Reader<Vec<u8>>,
    path: &Path,
    orgs: &mut Vec<Box<str>>,
) -> Result<Walked<AsnRec>, GeoError> {
    let mut org_ids: HashMap<Box<str>, u32> = HashMap::new();
    walk(reader, path, |r| {
        let Some(d) = r.decode::<AsnDoc<'_>>()? else {
            return Ok(AsnRec {
                asn: None,
                org: None,
            });
        };
        let org = d
            .autonomous_system_organization
            .or(d.organization)
            .map(|name| {
                *org_ids.entry(name.into()).or_insert_with(|| {
                    orgs.push(name.into());
                    (orgs.len() - 1) as u32
                })
            });
        Ok(AsnRec {
            asn: d.autonomous_system_number,
            org,
        })
    })
}

fn walk<T: Clone + Eq + Hash>(
    reader: &Reader<Vec<u8>>,
    path: &Path,
    mut decode: impl FnMut(
        &maxminddb::LookupResult<'_, Vec<u8>>,
    ) -> Result<T, maxminddb::MaxMindDbError>,
) -> Result<Walked<T>, GeoError> {
    let err = |e: maxminddb::MaxMindDbError| GeoError::Mmdb {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut out = Walked {
        records: Vec::new(),
        v4: Vec::new(),
        v6: Vec::new(),
    };
    let mut by_offset: HashMap<usize, u32> = HashMap::new();
    let mut by_value: HashMap<T, u32> = HashMap::new();
    for item in reader.networks(WithinOptions::default()).map_err(err)? {
        let r = item.map_err(err)?;
        let Some(offset) = r.offset() else { continue };
        let val = match by_offset.get(&offset) {
            Some(&v) => v,
            None => {
                let rec = decode(&r).map_err(err)?;
                let v = *by_value.entry(rec.clone()).or_insert_with(|| {
                    out.records.push(rec);
                    (out.records.len() - 1) as u32
                });
                by_offset.insert(offset, v);
                v
            }
        };
        let network = r.network().map_err(err)?;
        let net = IpNet::new(network.ip(), network.prefix()).map_err(|e| GeoError::Mmdb {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let (v6, start, end) = bounds(&net);
        match (v6, net.addr()) {
            (false, _) => out.v4.push(Seg { start, end, val }),
            (true, IpAddr::V6(a)) => {
                if let Some(v4) = a.to_ipv4_mapped().filter(|_| net.prefix_len() >= 96) {
                    let mapped = IpNet::new(IpAddr::V4(v4), net.prefix_len() - 96);
                    if let Ok(m) = mapped {
                        let (_, s, e) = bounds(&m);
                        out.v4.push(Seg {
                            start: s,
                            end: e,
                            val,
                        });
                    }
                    continue;
                }
                if start == 0 && net.prefix_len() <= 96 {
                    // A record above the IPv4 subtree: IPv4 lookups land in it too.
                    out.v4.push(Seg {
                        start: 0,
                        end: u128::from(u32::MAX),
                        val,
                    });
                }
                out.v6.push(Seg { start, end, val });
            }
            (true, IpAddr::V4(_)) => {}
        }
    }
    out.v4.sort_by_key(|s| s.start);
    out.v6.sort_by_key(|s| s.start);
    Ok(out)
}
