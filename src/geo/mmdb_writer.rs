//! A small MaxMind DB (MMDB v2.0) writer, written from the public format specification.
//!
//! Meridian ships no database. The example configuration and the tests describe small
//! databases in text and turn them into real MMDB bytes here, which the `maxminddb` reader
//! then reads exactly as it reads a GeoLite2 file. The writer builds an IPv6 search tree
//! (IPv4 networks live under `::/96`, as in MaxMind's own databases) with 32-bit records,
//! a data section of de-duplicated records, and the metadata map.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// A value in the MMDB data section.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Double(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Bool(bool),
    Array(Vec<Value>),
    /// Keys are kept in the order given.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }
}

/// Why a database could not be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("the database is too large for 32-bit search tree records")]
    TooLarge,
    #[error("string or container of {0} bytes/items is too long for the format")]
    ValueTooLong(usize),
}

const NO_DATA: u32 = u32::MAX;
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

#[derive(Debug, Clone, Copy)]
enum Child {
    Empty,
    Node(u32),
    /// Offset into the data section.
    Data(u32),
}

/// Collects networks and their records, then writes the database.
#[derive(Debug)]
pub struct Writer {
    database_type: String,
    description: String,
    nodes: Vec<[Child; 2]>,
    data: Vec<u8>,
    dedup: HashMap<Vec<u8>, u32>,
    pending: Vec<(u8, u128, u32)>,
}

impl Writer {
    pub fn new(database_type: &str, description: &str) -> Writer {
        Writer {
            database_type: database_type.to_owned(),
            description: description.to_owned(),
            nodes: vec![[Child::Empty, Child::Empty]],
            data: Vec::new(),
            dedup: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Add `net` with `record`. More specific networks override less specific ones wherever
    /// they are inserted; of two identical networks the later one wins.
    pub fn insert(&mut self, net: IpNet, record: &Value) -> Result<(), WriteError> {
        let mut bytes = Vec::new();
        encode(record, &mut bytes)?;
        let offset = match self.dedup.get(&bytes) {
            Some(&o) => o,
            None => {
                let o = u32::try_from(self.data.len()).map_err(|_| WriteError::TooLarge)?;
                self.data.extend_from_slice(&bytes);
                self.dedup.insert(bytes, o);
                o
            }
        };
        let net = net.trunc();
        let (bits, len) = match net.addr() {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 96 + net.prefix_len()),
            IpAddr::V6(a) => (u128::from(a), net.prefix_len()),
        };
        self.pending.push((len, bits, offset));
        Ok(())
    }

    /// The finished database file.
    pub fn finish(mut self) -> Result<Vec<u8>, WriteError> {
        // Shorter prefixes first, so a longer one always lands inside an existing record.
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|&(len, bits, _)| (len, bits));
        for (len, bits, offset) in pending {
            self.place(bits, len, offset)?;
        }
        let node_count = u32::try_from(self.nodes.len()).map_err(|_| WriteError::TooLarge)?;
        let data_len = u32::try_from(self.data.len()).map_err(|_| WriteError::TooLarge)?;
        if u64::from(node_count) + 16 + u64::from(data_len) >= u64::from(NO_DATA) {
            return Err(WriteError::TooLarge);
        }
        let mut out = Vec::with_capacity(self.nodes.len() * 8 + 16 + self.data.len() + 256);
        for node in &self.nodes {
            for child in node {
                let v = match *child {
                    Child::Empty => node_count,
                    Child::Node(n) => n,
                    Child::Data(off) => node_count + 16 + off,
                };
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(METADATA_MARKER);
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let meta = Value::map([
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(epoch)),
            ("database_type", Value::str(self.database_type.clone())),
            (
                "description",
                Value::map([("en", Value::str(self.description.clone()))]),
            ),
            ("ip_version", Value::U16(6)),
            ("languages", Value::Array(vec![Value::str("en")])),
            ("node_count", Value::U32(node_count)),
            ("record_size", Value::U16(32)),
        ]);
        encode(&meta, &mut out)?;
        Ok(out)
    }

    fn place(&mut self, bits: u128, len: u8, offset: u32) -> Result<(), WriteError> {
        if len == 0 {
            // The whole address space: both halves of the root.
            self.nodes[0] = [Child::Data(offset), Child::Data(offset)];
            return Ok(());
        }
        let mut node = 0usize;
        for depth in 0..len {
            let bit = ((bits >> (127 - u32::from(depth))) & 1) as usize;
            if depth + 1 == len {
                self.nodes[node][bit] = Child::Data(offset);
                return Ok(());
            }
            node = match self.nodes[node][bit] {
                Child::Node(n) => n as usize,
                inherited @ (Child::Empty | Child::Data(_)) => {
                    // Split: the new node's halves inherit what covered this whole block.
                    let n = u32::try_from(self.nodes.len()).map_err(|_| WriteError::TooLarge)?;
                    self.nodes.push([inherited, inherited]);
                    self.nodes[node][bit] = Child::Node(n);
                    n as usize
                }
            };
        }
        Ok(())
    }
}

fn control(out: &mut Vec<u8>, type_num: u8, size: usize) -> Result<(), WriteError> {
    let (first, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, Vec::new())
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65_536 {
        let s = (size - 285) as u16;
        (30, s.to_be_bytes().to_vec())
    } else if size < 65_821 + (1 << 24) {
        let s = (size - 65_821) as u32;
        (31, s.to_be_bytes()[1..].to_vec())
    } else {
        return Err(WriteError::ValueTooLong(size));
    };
    if type_num <= 7 {
        out.push((type_num << 5) | first);
    } else {
        out.push(first);
        out.push(type_num - 7);
    }
    out.extend_from_slice(&extra);
    Ok(())
}

fn uint(out: &mut Vec<u8>, type_num: u8, be: &[u8]) -> Result<(), WriteError> {
    let skip = be.iter().take_while(|&&b| b == 0).count();
    control(out, type_num, be.len() - skip)?;
    out.extend_from_slice(&be[skip..]);
    Ok(())
}

/// Append the encoding of `v` (types: 2 string, 3 double, 5 uint16, 6 uint32, 7 map,
/// 9 uint64, 11 array, 14 boolean).
pub fn encode(v: &Value, out: &mut Vec<u8>) -> Result<(), WriteError> {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len())?;
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            control(out, 3, 8)?;
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::U16(n) => uint(out, 5, &n.to_be_bytes())?,
        Value::U32(n) => uint(out, 6, &n.to_be_bytes())?,
        Value::U64(n) => uint(out, 9, &n.to_be_bytes())?,
        Value::Bool(b) => control(out, 14, usize::from(*b))?,
        Value::Array(items) => {
            control(out, 11, items.len())?;
            for item in items {
                encode(item, out)?;
            }
        }
        Value::Map(pairs) => {
            control(out, 7, pairs.len())?;
            for (k, item) in pairs {
                control(out, 2, k.len())?;
                out.extend_from_slice(k.as_bytes());
                encode(item, out)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out).unwrap();
        out
    }

    #[test]
    fn encodes_per_spec() {
        let cases: Vec<(Value, Vec<u8>)> = vec![
            (Value::str(""), vec![0x40]),
            (Value::str("CN"), vec![0x42, b'C', b'N']),
            (Value::U16(0), vec![0xA0]),
            (Value::U16(500), vec![0xA2, 0x01, 0xF4]),
            (Value::U32(4134), vec![0xC2, 0x10, 0x26]),
            (Value::U64(1), vec![0x01, 0x02, 0x01]),
            (Value::Bool(true), vec![0x01, 0x07]),
            (Value::Array(vec![]), vec![0x00, 0x04]),
            (Value::Double(1.0), vec![0x68, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]),
            (
                Value::map([("a", Value::U16(1))]),
                vec![0xE1, 0x41, b'a', 0xA1, 0x01],
            ),
        ];
        for (v, want) in cases {
            assert_eq!(bytes(&v), want, "{v:?}");
        }
    }

    #[test]
    fn long_string_sizes() {
        for (len, head) in [
            (28usize, vec![0x5C]),
            (29, vec![0x5D, 0]),
            (284, vec![0x5D, 255]),
            (285, vec![0x5E, 0, 0]),
            (65_821, vec![0x5F, 0, 0, 0]),
        ] {
            let b = bytes(&Value::str("x".repeat(len)));
            assert_eq!(&b[..head.len()], &head[..], "len {len}");
            assert_eq!(b.len(), head.len() + len);
        }
    }

    #[test]
    fn reader_reads_what_we_write() {
        let mut w = Writer::new("Test", "t");
        let rec = |n: u32| Value::map([("n", Value::U32(n))]);
        w.insert("10.0.0.0/8".parse().unwrap(), &rec(1)).unwrap();
        w.insert("10.1.0.0/16".parse().unwrap(), &rec(2)).unwrap();
        w.insert("2001:db8::/32".parse().unwrap(), &rec(3)).unwrap();
        let db = maxminddb::Reader::from_source(w.finish().unwrap()).unwrap();
        #[derive(serde::Deserialize)]
        struct R {
            n: u32,
        }
        for (ip, want, net) in [
            ("10.2.3.4", Some(1), "10.2.0.0/15"),
            ("10.1.3.4", Some(2), "10.1.0.0/16"),
            ("10.0.0.1", Some(1), "10.0.0.0/16"),
            ("11.0.0.1", None, "11.0.0.0/8"),
            ("2001:db8::1", Some(3), "2001:db8::/32"),
        ] {
            let r = db.lookup(ip.parse().unwrap()).unwrap();
            let got = r.decode::<R>().unwrap().map(|r| r.n);
            assert_eq!(got, want, "{ip}");
            assert_eq!(r.network().unwrap().to_string(), net, "{ip}");
        }
        assert_eq!(db.metadata().database_type, "Test");
        db.verify().unwrap();
    }
}
