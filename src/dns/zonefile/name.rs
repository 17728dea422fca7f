//! Domain names as the zone-file reader produces them: [`WireName`], an uncompressed
//! wire-form name that keeps the case written in the file, its parser from presentation form
//! (`@`, relative and absolute names, `\DDD` and `\X` escapes) and its presentation form.

use std::fmt;

/// Longest label, in bytes (RFC 1035 s2.3.4).
pub const MAX_LABEL: usize = 63;
/// Longest name in wire form, in bytes, root label included (RFC 1035 s2.3.4).
pub const MAX_NAME: usize = 255;

/// A domain name in uncompressed wire form (length-prefixed labels, ending with the root 0),
/// with the case exactly as written in the file.
///
/// The field is public so that other modules can build names from wire data; names made by
/// [`WireName::from_ascii`] are always well formed. The helpers never panic on a malformed
/// vector; they stop at the first inconsistent length byte.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct WireName(pub Vec<u8>);

/// Why a presentation-form name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty domain name")]
    Empty,
    #[error("empty label in a domain name")]
    EmptyLabel(String),
    #[error("a label is {len} bytes long, over the {MAX_LABEL}-byte limit")]
    LabelTooLong { label: String, len: usize },
    #[error("a domain name is {len} bytes long in wire form, over the {MAX_NAME}-byte limit")]
    NameTooLong { name: String, len: usize },
    #[error("bad escape in a domain name: {why}")]
    BadEscape { name: String, why: &'static str },
}

/// Decodes the escape that starts at `raw[i]` (a backslash): `\DDD` (three decimal digits,
/// at most 255) or `\X` (X literally). Returns the byte and the index after the escape.
pub(super) fn escape_at(raw: &[u8], i: usize) -> Result<(u8, usize), &'static str> {
    match raw.get(i + 1) {
        None => Err("backslash at the end of the token"),
        Some(d) if d.is_ascii_digit() => {
            let digits = raw
                .get(i + 1..i + 4)
                .filter(|ds| ds.iter().all(u8::is_ascii_digit))
                .ok_or("\\DDD escape needs exactly three decimal digits")?;
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            let byte = u8::try_from(value).map_err(|_| "\\DDD escape value above 255")?;
            Ok((byte, i + 4))
        }
        Some(&c) => Ok((c, i + 2)),
    }
}

/// Text for error messages: the raw token as written, invalid UTF-8 replaced.
pub(super) fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

impl WireName {
    /// The root name `.`.
    pub fn root() -> Self {
        WireName(vec![0])
    }

    /// Parses a presentation-form name: `@` is `origin`, a name ending in an unescaped dot is
    /// absolute, any other name is relative to `origin`.
    pub fn from_ascii(text: &str, origin: &WireName) -> Result<Self, NameError> {
        Self::from_presentation(text.as_bytes(), origin)
    }

    /// [`WireName::from_ascii`] on raw bytes (zone files need not be UTF-8).
    pub fn from_presentation(raw: &[u8], origin: &WireName) -> Result<Self, NameError> {
        match raw {
            b"" => return Err(NameError::Empty),
            b"@" => return Ok(origin.clone()),
            b"." => return Ok(Self::root()),
            _ => {}
        }
        let mut wire = Vec::with_capacity(raw.len() + origin.0.len() + 1);
        let mut label_start = 0;
        wire.push(0);
        let mut absolute = false;
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'.' => {
                    close_label(&mut wire, label_start, raw)?;
                    i += 1;
                    if i == raw.len() {
                        absolute = true;
                    } else {
                        label_start = wire.len();
                        wire.push(0);
                    }
                }
                b'\\' => {
                    let (byte, next) = escape_at(raw, i).map_err(|why| NameError::BadEscape {
                        name: show(raw),
                        why,
                    })?;
                    wire.push(byte);
                    i = next;
                }
                byte => {
                    wire.push(byte);
                    i += 1;
                }
            }
        }
        if absolute {
            wire.push(0);
        } else {
            close_label(&mut wire, label_start, raw)?;
            wire.extend_from_slice(&origin.0);
        }
        if wire.len() > MAX_NAME {
            let mut name = show(raw);
            if !absolute {
                name = format!("{name}.{}", origin.to_ascii());
            }
            return Err(NameError::NameTooLong {
                name,
                len: wire.len(),
            });
        }
        Ok(WireName(wire))
    }

    /// The wire bytes.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// True for the root name.
    pub fn is_root(&self) -> bool {
        self.0 == [0]
    }

    /// The labels from the leftmost, root excluded.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: &self.0,
            pos: 0,
        }
    }

    /// Number of labels, root excluded (`www.example.test.` has 3).
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// Comparison under DNS case rules (ASCII only, RFC 4343).
    pub fn eq_ignore_case(&self, other: &WireName) -> bool {
        // Length bytes are at most 63, below every ASCII letter, so a byte-wise
        // case-insensitive comparison of the whole wire form is exact.
        self.0.eq_ignore_ascii_case(&other.0)
    }

    /// The same name in ASCII lower case.
    pub fn to_lowercase(&self) -> WireName {
        WireName(self.0.to_ascii_lowercase())
    }

    /// True when `self` equals `zone` or lies below it (case-insensitive).
    pub fn is_subdomain_of(&self, zone: &WireName) -> bool {
        let mut pos = 0;
        while pos < self.0.len() {
            let rest = &self.0[pos..];
            if rest.len() == zone.0.len() {
                return rest.eq_ignore_ascii_case(&zone.0);
            }
            if rest.len() < zone.0.len() || rest[0] == 0 {
                return false;
            }
            pos += 1 + usize::from(rest[0]);
        }
        false
    }

    /// Presentation form, always absolute: `www.example.test.`, or `.` for the root.
    /// Bytes that would not read back as themselves are escaped.
    pub fn to_ascii(&self) -> String {
        if self.is_root() {
            return ".".to_string();
        }
        let mut out = String::with_capacity(self.0.len() + 1);
        for label in self.labels() {
            for &b in label {
                push_escaped(&mut out, b, false);
            }
            out.push('.');
        }
        out
    }
}

impl fmt::Display for WireName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ascii())
    }
}

/// Appends one byte of a label or character-string in presentation form.
pub(super) fn push_escaped(out: &mut String, b: u8, in_quotes: bool) {
    let special = if in_quotes {
        matches!(b, b'"' | b'\\')
    } else {
        matches!(
            b,
            b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'@' | b'$' | b' '
        )
    };
    if special {
        out.push('\\');
        out.push(char::from(b));
    } else if b.is_ascii_graphic() || (in_quotes && b == b' ') {
        out.push(char::from(b));
    } else {
        out.push_str(&format!("\\{b:03}"));
    }
}

fn close_label(wire: &mut [u8], label_start: usize, raw: &[u8]) -> Result<(), NameError> {
    let len = wire.len() - label_start - 1;
    if len == 0 {
        return Err(NameError::EmptyLabel(show(raw)));
    }
    if len > MAX_LABEL {
        return Err(NameError::LabelTooLong {
            label: show(&wire[label_start + 1..]),
            len,
        });
    }
    // len <= 63 was checked just above.
    wire[label_start] = len as u8;
    Ok(())
}

/// Iterator over the labels of a [`WireName`].
pub struct Labels<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(*self.wire.get(self.pos)?);
        if len == 0 {
            return None;
        }
        let label = self.wire.get(self.pos + 1..self.pos + 1 + len)?;
        self.pos += 1 + len;
        Some(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> WireName {
        WireName::from_ascii("example.test.", &WireName::root()).unwrap()
    }

    #[test]
    fn relative_absolute_at_and_root() {
        let o = origin();
        assert_eq!(o.0, b"\x07example\x04test\x00");
        let www = WireName::from_ascii("WWW", &o).unwrap();
        assert_eq!(www.0, b"\x03WWW\x07example\x04test\x00");
        assert_eq!(www.to_ascii(), "WWW.example.test.");
        assert_eq!(WireName::from_ascii("@", &o).unwrap(), o);
        assert_eq!(WireName::from_ascii(".", &o).unwrap().0, vec![0]);
        let abs = WireName::from_ascii("a.b.", &o).unwrap();
        assert_eq!(abs.0, b"\x01a\x01b\x00");
        assert_eq!(abs.label_count(), 2);
        assert_eq!(WireName::root().to_ascii(), ".");
        assert_eq!(WireName::root().label_count(), 0);
    }

    #[test]
    fn escapes() {
        let o = WireName::root();
        let n = WireName::from_ascii("a\\.b.c\\065\\\\.", &o).unwrap();
        assert_eq!(n.0, b"\x03a.b\x03cA\\\x00");
        assert_eq!(n.to_ascii(), "a\\.b.cA\\\\.");
        let n = WireName::from_ascii("\\000x.", &o).unwrap();
        assert_eq!(n.0, b"\x02\x00x\x00");
        assert_eq!(n.to_ascii(), "\\000x.");
        assert!(matches!(
            WireName::from_ascii("a\\256.", &o),
            Err(NameError::BadEscape { .. })
        ));
        assert!(matches!(
            WireName::from_ascii("a\\25", &o),
            Err(NameError::BadEscape { .. })
        ));
        assert!(matches!(
            WireName::from_ascii("a\\", &o),
            Err(NameError::BadEscape { .. })
        ));
    }

    #[test]
    fn limits() {
        let o = WireName::root();
        let l63 = "a".repeat(63);
        assert!(WireName::from_ascii(&format!("{l63}."), &o).is_ok());
        let err = WireName::from_ascii(&format!("{l63}b.x."), &o).unwrap_err();
        assert!(
            matches!(err, NameError::LabelTooLong { len: 64, .. }),
            "{err}"
        );
        // 4 labels of 63 = 256 bytes, + root = 257 > 255; 3 labels of 63 + 1 of 61 = 255.
        let l61 = "c".repeat(61);
        assert!(WireName::from_ascii(&format!("{l63}.{l63}.{l63}.{l61}."), &o).is_ok());
        let err = WireName::from_ascii(&format!("{l63}.{l63}.{l63}.{l61}x."), &o).unwrap_err();
        assert!(
            matches!(err, NameError::NameTooLong { len: 256, .. }),
            "{err}"
        );
        // Relative names count the origin too.
        let big = WireName::from_ascii(&format!("{l63}.{l63}.{l63}."), &o).unwrap();
        assert!(matches!(
            WireName::from_ascii(&l63, &big),
            Err(NameError::NameTooLong { .. })
        ));
        assert!(matches!(
            WireName::from_ascii("a..b", &o),
            Err(NameError::EmptyLabel(_))
        ));
        assert!(matches!(
            WireName::from_ascii(".a", &o),
            Err(NameError::EmptyLabel(_))
        ));
        assert_eq!(WireName::from_ascii("", &o), Err(NameError::Empty));
    }

    #[test]
    fn case_and_subdomains() {
        let o = origin();
        let a = WireName::from_ascii("Www.Example.TEST.", &o).unwrap();
        let b = WireName::from_ascii("www", &o).unwrap();
        assert!(a.eq_ignore_case(&b));
        assert_ne!(a, b);
        assert_eq!(a.to_lowercase(), b);
        assert!(a.is_subdomain_of(&o));
        assert!(o.is_subdomain_of(&o));
        assert!(o.is_subdomain_of(&WireName::root()));
        assert!(!o.is_subdomain_of(&a));
        // Same suffix bytes but not on a label boundary.
        let x = WireName::from_ascii("xexample.test.", &o).unwrap();
        assert!(!x.is_subdomain_of(&o));
        let other = WireName::from_ascii("example.org.", &o).unwrap();
        assert!(!other.is_subdomain_of(&o));
        let labels: Vec<&[u8]> = a.labels().collect();
        assert_eq!(labels, vec![&b"Www"[..], b"Example", b"TEST"]);
    }

    #[test]
    fn malformed_vectors_do_not_panic() {
        let bad = WireName(vec![5, b'a']);
        assert_eq!(bad.label_count(), 0);
        assert!(!bad.is_subdomain_of(&WireName::root()));
        assert!(!WireName(vec![]).is_subdomain_of(&WireName::root()));
        assert_eq!(bad.to_ascii(), "");
    }
}
