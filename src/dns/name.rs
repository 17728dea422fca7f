//! Domain names in uncompressed wire form: validation, label walking, ASCII lower-casing
//! into stack buffers, and the small fast hasher the zone maps use.
//!
//! Names on the query path are plain `&[u8]` slices (length-prefixed labels ending in the
//! root label); keys in the zone tree are the lower-cased form, so a lookup lower-cases the
//! query name once into a `[u8; 255]` and never allocates.

use std::hash::{BuildHasherDefault, Hasher};

/// Largest wire length of a domain name (RFC 1035 section 3.1).
pub const MAX_NAME: usize = 255;
/// Largest number of labels a name can have (including the root).
pub const MAX_LABELS: usize = 128;

/// Wire length of the uncompressed name at the start of `buf`, or `None` if it is not a
/// valid uncompressed name (pointer, bad label type, runs past the end, too long).
pub fn wire_len(buf: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    loop {
        let len = *buf.get(pos)? as usize;
        if len & 0xC0 != 0 {
            return None;
        }
        pos += 1 + len;
        if pos > MAX_NAME || pos > buf.len() {
            return None;
        }
        if len == 0 {
            return Some(pos);
        }
    }
}

/// Lower-cases `name` (a valid wire name) into `buf`, returning the lower-cased slice.
pub fn lower_into<'b>(name: &[u8], buf: &'b mut [u8; MAX_NAME]) -> &'b [u8] {
    let n = name.len().min(MAX_NAME);
    for (d, s) in buf[..n].iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    &buf[..n]
}

/// An owned, lower-cased copy of a wire name (load time only).
pub fn lowered(name: &[u8]) -> Box<[u8]> {
    name.iter().map(u8::to_ascii_lowercase).collect()
}

/// Offsets of every label start in `name` (the last one is the root label), written into
/// `offs`; returns how many there are.
pub fn label_offsets(name: &[u8], offs: &mut [u8; MAX_LABELS]) -> usize {
    let mut n = 0usize;
    let mut pos = 0usize;
    while pos < name.len() && n < MAX_LABELS {
        offs[n] = pos as u8;
        n += 1;
        let len = name[pos] as usize;
        if len == 0 {
            break;
        }
        pos += 1 + len;
    }
    n
}

/// The name without its first label (`None` for the root).
pub fn parent(name: &[u8]) -> Option<&[u8]> {
    let len = *name.first()? as usize;
    if len == 0 {
        return None;
    }
    name.get(1 + len..)
}

/// True if `name` equals `zone` or lies below it (both lower-cased wire names).
pub fn is_at_or_below(name: &[u8], zone: &[u8]) -> bool {
    if name.len() < zone.len() || !name.ends_with(zone) {
        return false;
    }
    // The suffix must start on a label boundary.
    let cut = name.len() - zone.len();
    let mut pos = 0usize;
    while pos < cut {
        pos += 1 + name[pos] as usize;
    }
    pos == cut
}

/// Presentation form of a wire name, for messages and tests (not for the query path).
pub fn to_text(name: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0usize;
    while let Some(&len) = name.get(pos) {
        if len == 0 {
            break;
        }
        let label = name.get(pos + 1..pos + 1 + len as usize).unwrap_or(&[]);
        for &b in label {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*' {
                out.push(b as char);
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out.push('.');
        pos += 1 + len as usize;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Wire form of a presentation name (absolute, no escapes); for tests and fixed names.
pub fn from_text(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for label in text
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        if label.len() > 63 {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    (out.len() <= MAX_NAME).then_some(out)
}

/// A small multiply-rotate hasher for name keys: the std SipHash is several times slower
/// for short keys, and the keys here come from zone files, not from attackers who could
/// choose colliding names to flood one bucket (query names only look up, never insert).
#[derive(Default, Clone, Copy)]
pub struct NameHasher(u64);

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }
}

/// Hash-map builder for name-keyed maps.
pub type NameBuild = BuildHasherDefault<NameHasher>;
/// A map from lower-cased wire names to values.
pub type NameMap<V> = std::collections::HashMap<Box<[u8]>, V, NameBuild>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_len() {
        let n = from_text("WWW.Example.test.").unwrap();
        assert_eq!(n, b"\x03WWW\x07Example\x04test\x00");
        assert_eq!(wire_len(&n), Some(n.len()));
        assert_eq!(to_text(&n), "WWW.Example.test.");
        assert_eq!(from_text(".").unwrap(), vec![0]);
    }

    #[test]
    fn wire_len_rejects_pointers_and_overruns() {
        assert_eq!(wire_len(b"\xC0\x0C"), None);
        assert_eq!(wire_len(b"\x03ab"), None);
        assert_eq!(wire_len(b"\x40aaaa"), None);
        assert_eq!(wire_len(b"\x00rest"), Some(1));
    }

    #[test]
    fn labels_parent_and_below() {
        let n = from_text("a.b.c").unwrap();
        let mut offs = [0u8; MAX_LABELS];
        let k = label_offsets(&n, &mut offs);
        assert_eq!(&offs[..k], &[0, 2, 4, 6]);
        assert_eq!(parent(&n).unwrap(), &n[2..]);
        assert!(is_at_or_below(&n, &from_text("b.c").unwrap()));
        assert!(is_at_or_below(&n, &[0]));
        assert!(!is_at_or_below(&n, &from_text("xb.c").unwrap()));
        assert!(!is_at_or_below(
            &from_text("xb.c").unwrap(),
            &from_text("b.c").unwrap()
        ));
        let mut buf = [0u8; MAX_NAME];
        assert_eq!(lower_into(b"\x01A\x00", &mut buf), b"\x01a\x00");
    }
}
