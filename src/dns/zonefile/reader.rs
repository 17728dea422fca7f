//! The reader: walks the entries of a zone file and of the files it `$INCLUDE`s, applies
//! `$ORIGIN`, `$TTL` and `$INCLUDE`, fills in blank owners, TTLs and classes, and turns each
//! record line into a [`ZoneRecord`]. Zone-wide rules (SOA, CNAME, ...) are in `check`.
//!
//! Default TTL, the choice made here (BIND 9's, which follows RFC 2308 s4 and RFC 1035 s5.1):
//! a record without a TTL takes the last `$TTL`; without `$TTL`, the TTL last written
//! explicitly on an earlier record (RFC 1035 "last explicitly stated value"); if there is none
//! either and the record is the SOA, the SOA MINIMUM field, which then also becomes the default
//! for the records after it; any other record with no TTL to inherit is an error.
//! `$TTL` is not scoped to a file: one set inside an `$INCLUDE`d file stays in force after it,
//! whereas `$ORIGIN` and the previous owner return to the including file's values.
//!
//! `$INCLUDE` follows [`ZoneFileRules`]: by default the included file must lie inside the
//! folder of the top zone file (symlinks resolved), and every file read must be a regular
//! file within the size limit ([`crate::files`]), so a FIFO or `/dev/zero` cannot hang or
//! exhaust a load. Messages name file, line and column, never the text found there.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::lexer::{Entry, Lexer, Token};
use super::name::WireName;
use super::rdata::{
    MAX_TTL, Problem, RdataPart, decode_string, parse_rdata, parse_ttl, rdata_to_wire,
};
use super::rtype::{self, CLASS_IN, class_from_text, refused_type, type_from_text};
use super::{ZoneFileError, ZoneRecord};
use crate::config::ZoneFileRules;
use crate::files;

/// How deep `$INCLUDE`s may nest below the top file.
pub const MAX_INCLUDE_DEPTH: usize = 16;

pub(super) struct Reader {
    zone: WireName,
    records: Vec<ZoneRecord>,
    /// Canonical paths of the files being read, outermost first (loop detection).
    stack: Vec<PathBuf>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    rules: ZoneFileRules,
    /// The folder of the top zone file, canonical: where `$INCLUDE`s must stay.
    root: Option<PathBuf>,
}

struct FileState<'p> {
    path: &'p Path,
    origin: WireName,
    prev_owner: Option<WireName>,
}

impl Reader {
    pub fn new(zone: WireName, rules: ZoneFileRules) -> Self {
        Reader {
            zone,
            records: Vec::new(),
            stack: Vec::new(),
            default_ttl: None,
            last_ttl: None,
            rules,
            root: None,
        }
    }

    pub fn into_records(self) -> Vec<ZoneRecord> {
        self.records
    }

    /// Reads one file's text; `path` names it in errors and anchors relative `$INCLUDE`s.
    pub fn read(&mut self, src: &[u8], path: &Path, origin: WireName) -> Result<(), ZoneFileError> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.root.is_none() {
            self.root = canonical.parent().map(Path::to_path_buf);
        }
        self.stack.push(canonical);
        let result = self.read_entries(src, path, origin);
        self.stack.pop();
        result
    }

    fn read_entries(
        &mut self,
        src: &[u8],
        path: &Path,
        origin: WireName,
    ) -> Result<(), ZoneFileError> {
        let mut lexer = Lexer::new(src);
        let mut st = FileState {
            path,
            origin,
            prev_owner: None,
        };
        loop {
            let entry = match lexer.next_entry() {
                Ok(Some(entry)) => entry,
                Ok(None) => return Ok(()),
                Err(e) => return Err(error(path, e.line, 0, e.reason)),
            };
            let first = entry.tokens[0];
            let result = if !entry.blank_owner && !first.quoted && first.raw.starts_with(b"$") {
                self.directive(&entry, &mut st)
            } else {
                self.record(&entry, &mut st)
            };
            result.map_err(|p| match p {
                Failure::Here(p) => error(path, p.line, p.col, p.reason),
                Failure::Nested(e) => e,
            })?;
        }
    }

    fn directive(&mut self, entry: &Entry<'_>, st: &mut FileState<'_>) -> Result<(), Failure> {
        let line = entry.line;
        let word = entry.tokens[0].raw;
        let args = &entry.tokens[1..];
        let is = |name: &str| word.eq_ignore_ascii_case(name.as_bytes());
        if is("$ORIGIN") {
            let [arg] = args else {
                return Err(here(
                    line,
                    format!("$ORIGIN takes one domain name, not {}", args.len()),
                ));
            };
            st.origin = name_arg(arg, &st.origin, "$ORIGIN")?;
        } else if is("$TTL") {
            let [arg] = args else {
                return Err(here(
                    line,
                    format!("$TTL takes one TTL, not {}", args.len()),
                ));
            };
            let ttl = parse_ttl(arg.raw).map_err(|e| at(arg, format!("$TTL: {e}")))?;
            self.default_ttl = Some(ttl);
        } else if is("$INCLUDE") {
            let (file, origin) = match args {
                [file] => (file, st.origin.clone()),
                [file, origin] => (file, name_arg(origin, &st.origin, "$INCLUDE origin")?),
                _ => {
                    return Err(here(
                        line,
                        format!(
                            "$INCLUDE takes a file name and an optional origin, not {} arguments",
                            args.len()
                        ),
                    ));
                }
            };
            self.include(file, origin, st)?;
        } else {
            return Err(Failure::Here(Problem::at(
                &entry.tokens[0],
                "unknown or unsupported directive (expected $ORIGIN, $TTL or $INCLUDE)",
            )));
        }
        Ok(())
    }

    fn include(
        &mut self,
        file: &Token<'_>,
        origin: WireName,
        st: &FileState<'_>,
    ) -> Result<(), Failure> {
        let line = file.line;
        let bytes = decode_string(file.raw)
            .map_err(|why| here(line, format!("$INCLUDE file name: bad escape: {why}")))?;
        let rel = Path::new(OsStr::from_bytes(&bytes));
        let target = match st.path.parent() {
            Some(dir) if rel.is_relative() => dir.join(rel),
            _ => rel.to_path_buf(),
        };
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(here(
                line,
                format!(
                    "$INCLUDE {}: nested more than {MAX_INCLUDE_DEPTH} files deep",
                    target.display()
                ),
            ));
        }
        let canonical = std::fs::canonicalize(&target).map_err(|e| {
            here(
                line,
                format!("cannot open $INCLUDE file {}: {e}", target.display()),
            )
        })?;
        if let Some(root) = &self.root
            && !self.rules.include_outside_zone_dir
            && !canonical.starts_with(root)
        {
            return Err(Failure::Here(Problem::at(
                file,
                format!(
                    "$INCLUDE {}: outside the zone folder {}; move it there, or set \
                     [server] include_outside_zone_dir = true",
                    target.display(),
                    root.display()
                ),
            )));
        }
        if self.stack.contains(&canonical) {
            return Err(here(
                line,
                format!("$INCLUDE loop: {} is already being read", target.display()),
            ));
        }
        let text = files::read(&target, self.rules.max_bytes)
            .map_err(|e| Failure::Here(Problem::at(file, format!("$INCLUDE refused: {e}"))))?;
        self.read(&text, &target, origin).map_err(Failure::Nested)
    }

    fn record(&mut self, entry: &Entry<'_>, st: &mut FileState<'_>) -> Result<(), Failure> {
        let line = entry.line;
        let mut toks = &entry.tokens[..];
        let owner = if entry.blank_owner {
            st.prev_owner.clone().ok_or_else(|| {
                here(
                    line,
                    "blank owner field, but there is no previous record to take the owner from",
                )
            })?
        } else {
            let Some((tok, rest)) = toks.split_first() else {
                return Err(here(line, "empty record"));
            };
            toks = rest;
            name_arg(tok, &st.origin, "owner")?
        };
        if !owner.is_subdomain_of(&self.zone) {
            return Err(here(
                line,
                format!(
                    "out-of-zone data: the owner is not inside the zone {}",
                    self.zone
                ),
            ));
        }
        st.prev_owner = Some(owner.clone());

        let mut ttl = None;
        let mut class = None;
        let rtype = loop {
            let Some((tok, rest)) = toks.split_first() else {
                return Err(here(line, "missing record type"));
            };
            toks = rest;
            if tok.quoted {
                return Err(at(
                    tok,
                    "expected a TTL, class or type, found a quoted string",
                ));
            }
            if tok.raw.first().is_some_and(u8::is_ascii_digit) {
                if ttl.is_some() {
                    return Err(at(tok, "a second TTL in one record"));
                }
                ttl = Some(parse_ttl(tok.raw).map_err(|e| at(tok, e))?);
            } else if let Some(c) = class_from_text(tok.raw) {
                if class.is_some() {
                    return Err(at(tok, "a second class in one record"));
                }
                if c != CLASS_IN {
                    return Err(at(tok, "class not supported: only IN (CLASS1)"));
                }
                class = Some(c);
            } else {
                break type_from_text(tok.raw).map_err(|e| at(tok, e))?;
            }
        };
        if let Some(why) = refused_type(rtype) {
            return Err(here(line, format!("type {rtype} refused: {why}")));
        }
        let rdata = parse_rdata(rtype, toks, &st.origin, line).map_err(Failure::Here)?;
        let ttl = self.resolve_ttl(ttl, rtype, &rdata, line)?;
        self.records.push(ZoneRecord {
            owner,
            ttl,
            class: CLASS_IN,
            rtype,
            rdata,
            file: st.path.to_path_buf(),
            line,
        });
        Ok(())
    }

    /// See the module documentation for the rules.
    fn resolve_ttl(
        &mut self,
        explicit: Option<u32>,
        rtype: u16,
        rdata: &[RdataPart],
        line: usize,
    ) -> Result<u32, Failure> {
        if let Some(ttl) = explicit {
            self.last_ttl = Some(ttl);
            return Ok(ttl);
        }
        if let Some(ttl) = self.default_ttl.or(self.last_ttl) {
            return Ok(ttl);
        }
        if rtype == rtype::SOA {
            let wire = rdata_to_wire(rdata);
            if let Some(min) = wire
                .get(wire.len().saturating_sub(4)..)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
            {
                let ttl = u32::from_be_bytes(min).min(MAX_TTL);
                self.default_ttl = Some(ttl);
                return Ok(ttl);
            }
        }
        Err(here(
            line,
            "no TTL: write one on the record, or put $TTL at the top of the file",
        ))
    }
}

/// A failure in this file (line and reason) or one already located in an included file.
enum Failure {
    Here(Problem),
    Nested(ZoneFileError),
}

fn here(line: usize, reason: impl Into<String>) -> Failure {
    Failure::Here(Problem::new(line, reason))
}

fn at(tok: &Token<'_>, reason: impl Into<String>) -> Failure {
    Failure::Here(Problem::at(tok, reason))
}

fn error(path: &Path, line: usize, column: usize, reason: String) -> ZoneFileError {
    ZoneFileError {
        file: path.to_path_buf(),
        line,
        column,
        reason,
    }
}

fn name_arg(tok: &Token<'_>, origin: &WireName, what: &str) -> Result<WireName, Failure> {
    if tok.quoted {
        return Err(at(
            tok,
            format!("{what} must be a domain name, not a quoted string"),
        ));
    }
    WireName::from_presentation(tok.raw, origin)
        .map_err(|e| at(tok, format!("bad {what} name: {e}")))
}
