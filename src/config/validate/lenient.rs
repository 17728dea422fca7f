//! Reading the raw [`Spec`] so that an unknown key does not hide every other error: serde
//! stops at the first unknown key, so each one is reported, blanked out of a copy of the text
//! (spaces, newlines kept, so every span and line stays where it was), and the copy is read
//! again. A key whose value spans several lines, and any other serde error (a wrong type),
//! still stops the reading: blanking part of a value would only invent errors.

use std::path::Path;

use super::super::Diagnostic;
use super::super::spec::Spec;
use super::toml_diag;

/// Most unknown keys reported before giving up on the rest.
const MAX_UNKNOWN: usize = 64;

/// The spec (when the text, unknown keys aside, could be read) and the errors found on the way.
pub(super) fn read_spec(text: &str, file: &Path) -> (Option<Spec>, Vec<Diagnostic>) {
    let mut work = text.to_string();
    let mut diags: Vec<Diagnostic> = Vec::new();
    loop {
        let e = match toml::from_str::<Spec>(&work) {
            Ok(spec) => {
                diags.sort_by_key(|d| (d.line, d.column));
                return (Some(spec), diags);
            }
            Err(e) => e,
        };
        diags.push(toml_diag(text, file, &e));
        let unknown = e.message().contains("unknown field");
        match e.span() {
            Some(span) if unknown && diags.len() < MAX_UNKNOWN && blank(&mut work, span.start) => {}
            _ => {
                diags.sort_by_key(|d| (d.line, d.column));
                return (None, diags);
            }
        }
    }
}

/// Blanks the one-line `key = value` or the `[table]` (up to the next header) that holds
/// `offset`; false when that cannot be done safely.
fn blank(work: &mut String, offset: usize) -> bool {
    let start = work[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = work[offset..].find('\n').map_or(work.len(), |i| offset + i);
    let line = work[start..line_end].trim();
    let end = if line.starts_with('[') {
        // A whole table: up to the next header line.
        let mut end = line_end;
        while end < work.len() {
            let next = work[end + 1..]
                .find('\n')
                .map_or(work.len(), |i| end + 1 + i);
            if work[end + 1..next].trim_start().starts_with('[') {
                break;
            }
            end = next;
        }
        end
    } else {
        let value = line.split_once('=').map_or("", |(_, v)| v);
        let opens = value.matches(['[', '{']).count();
        let closes = value.matches([']', '}']).count();
        if opens != closes || value.contains("\"\"\"") || value.contains("'''") {
            return false;
        }
        line_end
    };
    // Byte for byte, so multi-byte characters keep every later offset in place.
    let blanked: String = work.as_bytes()[start..end]
        .iter()
        .map(|&b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    work.replace_range(start..end, &blanked);
    true
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, parse};

    fn errors(dir: &std::path::Path, text: &str) -> Vec<String> {
        match parse(text, &dir.join("m.toml")) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn unknown_keys_no_longer_hide_the_other_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.test.zone"),
            "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
        )
        .unwrap();
        let text = "[server]\nzones = \"a.test.zone\"\nlisen = 3\nmax_udp_payload = 99\n\
                    [bogus]\nx = 1\ny = [1,\n 2]\n[isp.empty]\nfoo = \"é\"\n\
                    [site.hq]\nlinks = { default = [\"0.0.0.0\", \"224.0.0.1\", \"255.255.255.255\"] }\n";
        let e = errors(dir.path(), text);
        let want = [
            "m.toml:3:1: server.lisen: unknown field `lisen`",
            "m.toml:5:2: bogus: unknown field `bogus`",
            "m.toml:10:1: isp.empty.foo: unknown field `foo`",
            "m.toml:4:19: server.max_udp_payload: 99 is out of range",
            "m.toml:9:6: isp.empty: an ISP needs `asn`, `cidrs` or `cidr_files`",
            "m.toml:12:22: site.hq.links.default[0]: 0.0.0.0 is the unspecified address",
            "m.toml:12:33: site.hq.links.default[1]: 224.0.0.1 is a multicast address",
            "m.toml:12:46: site.hq.links.default[2]: 255.255.255.255 is the broadcast address",
        ];
        assert_eq!(e.len(), want.len(), "{e:#?}");
        for (got, want) in e.iter().zip(want) {
            assert!(got.contains(want), "{got}\n wanted {want}");
        }
        // A multi-line value of an unknown key stops the reading there.
        let e = errors(
            dir.path(),
            "[server]\nzones = \"a.test.zone\"\nlisen = [\n1]\nmax_udp_payload = 99\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
    }
}
