//! The RFC 1035 zone-file reader: text in, [`ParsedZone`] out, every error naming file, line
//! and a precise reason.
//!
//! It understands RFC 1035 s5 master files (`$ORIGIN`, `$INCLUDE file [origin]`, `@`,
//! relative and absolute names, blank owners, parentheses, `;` comments, quoted strings and
//! `\DDD` / `\X` escapes), RFC 2308 `$TTL` with units (`1h30m`), TTL and class in either
//! order, and RFC 3597 `TYPEnnn`, `CLASS1` and `\# len hex`. Records come out as
//! [`ZoneRecord`]s whose RDATA is a list of [`RdataPart`]s, so the answer core can compress
//! exactly the names RFC 3597 s4 allows.
//!
//! ```text
//! bytes -> lexer (entries of tokens, with lines) -> reader ($ directives, owner/TTL/class,
//!       rdata per type) -> check (one SOA at the apex, CNAME/DNAME rules, RRset TTLs)
//! ```
//!
//! Files: `name` ([`WireName`]), `lexer`, `rtype` (type numbers and mnemonics), `rdata`
//! (presentation-form parsers), `present` (wire decoder and [`rdata_to_text`]), `reader`,
//! `check`. The default-TTL rule chosen (BIND's) is described in `reader`.
//!
//! NSD is the oracle in the tests: `nsd-checkzone -p` must read the fixture
//! `tests/data/zones/example.test.zone` into the same records. This reader is stricter than
//! NSD 4.6 in three places: numbers that overflow their field, a `(` never closed, and a
//! `\#` length that does not match its data are errors here.

mod check;
mod lexer;
mod name;
mod present;
mod rdata;
mod reader;
pub mod rtype;

use std::path::{Path, PathBuf};

use crate::config::ZoneFileRules;

pub use name::{Labels, MAX_LABEL, MAX_NAME, NameError, WireName};
pub use present::rdata_to_text;
pub use rdata::{MAX_TTL, RdataPart, rdata_to_wire};
pub use reader::MAX_INCLUDE_DEPTH;
pub use rtype::{type_from_text, type_to_text};

/// One resource record read from a zone file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ZoneRecord {
    pub owner: WireName,
    pub ttl: u32,
    /// IN = 1 only; other classes are an error.
    pub class: u16,
    pub rtype: u16,
    pub rdata: Vec<RdataPart>,
    /// The file the record was read from (an `$INCLUDE`d file for included records).
    pub file: PathBuf,
    /// The line where the record starts.
    pub line: usize,
}

/// A whole zone: its origin (apex) and its records in file order, identical records kept once.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ParsedZone {
    pub origin: WireName,
    pub records: Vec<ZoneRecord>,
}

impl ParsedZone {
    /// The zone's SOA record (there is always exactly one).
    pub fn soa(&self) -> Option<&ZoneRecord> {
        self.records.iter().find(|r| r.rtype == rtype::SOA)
    }

    /// The SOA MINIMUM field (RFC 2308: negative answers use min(SOA TTL, MINIMUM)).
    pub fn soa_minimum(&self) -> Option<u32> {
        let wire = rdata_to_wire(&self.soa()?.rdata);
        let tail = wire.get(wire.len().checked_sub(4)?..)?;
        Some(u32::from_be_bytes(tail.try_into().ok()?))
    }
}

/// A zone file that could not be read, at `file:line:column` (the column when one token
/// is at fault, 0 otherwise). The reason says what was expected, never the text found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFileError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl std::fmt::Display for ZoneFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:", self.file.display(), self.line)?;
        if self.column > 0 {
            write!(f, "{}:", self.column)?;
        }
        write!(f, " {}", self.reason)
    }
}

impl std::error::Error for ZoneFileError {}

/// Parses one zone file whose origin is `origin` (from the file name `<origin>.zone` or
/// config) under the default [`ZoneFileRules`]. `$INCLUDE` paths are relative to the folder
/// of the file that includes them.
pub fn parse_file(path: &Path, origin: &WireName) -> Result<ParsedZone, ZoneFileError> {
    parse_file_with(path, origin, ZoneFileRules::default())
}

/// [`parse_file`] under `rules` (`$INCLUDE` confinement, size limit).
pub fn parse_file_with(
    path: &Path,
    origin: &WireName,
    rules: ZoneFileRules,
) -> Result<ParsedZone, ZoneFileError> {
    let text = crate::files::read(path, rules.max_bytes).map_err(|e| ZoneFileError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        reason: format!("cannot read zone file: {e}"),
    })?;
    parse_with(&text, path, origin, rules)
}

/// Parses zone text; `path` names it in errors and anchors relative `$INCLUDE`s.
pub fn parse_str(text: &str, path: &Path, origin: &WireName) -> Result<ParsedZone, ZoneFileError> {
    parse_bytes(text.as_bytes(), path, origin)
}

/// [`parse_str`] on bytes: zone files need not be UTF-8 (TXT data, escaped names).
pub fn parse_bytes(
    text: &[u8],
    path: &Path,
    origin: &WireName,
) -> Result<ParsedZone, ZoneFileError> {
    parse_with(text, path, origin, ZoneFileRules::default())
}

fn parse_with(
    text: &[u8],
    path: &Path,
    origin: &WireName,
    rules: ZoneFileRules,
) -> Result<ParsedZone, ZoneFileError> {
    let mut reader = reader::Reader::new(origin.clone(), rules);
    reader.read(text, path, origin.clone())?;
    let records = check::check_zone(origin, reader.into_records(), path)?;
    Ok(ParsedZone {
        origin: origin.clone(),
        records,
    })
}

#[cfg(test)]
mod tests;
