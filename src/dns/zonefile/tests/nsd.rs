//! NSD as the oracle: `nsd-checkzone -p` reads the fixture `tests/data/zonefile/example.test.zone`
//! and prints the zone as it understood it; that printout, read back by this reader, must
//! give the same records (owner, type, TTL, RDATA bytes) as reading the fixture directly.
//! NSD must also refuse the zones this reader refuses for zone-wide reasons.
//! Needs `nsd-checkzone` (Debian package `nsd`): the tests fail, never skip, without it.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::*;

fn zones_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zonefile")
}

fn nsd_checkzone(dir: &Path, file: &str) -> Output {
    Command::new("nsd-checkzone")
        .args(["-p", "example.test.", file])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("nsd-checkzone is needed as the oracle (apt-get install nsd): {e}")
        })
}

/// Records as comparable keys: names compare without case (RFC 4343).
fn keys(zone: &ParsedZone) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
    let mut keys: Vec<_> = zone
        .records
        .iter()
        .map(|r| {
            let mut rdata = Vec::new();
            for part in &r.rdata {
                match part {
                    RdataPart::Name { name, .. } => rdata.extend(name.to_lowercase().0),
                    RdataPart::Bytes(b) => rdata.extend_from_slice(b),
                }
            }
            (r.owner.to_lowercase().0, r.rtype, r.ttl, rdata)
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn nsd_reads_the_fixture_as_we_do() {
    let dir = zones_dir();
    let ours = parse_file(&dir.join("example.test.zone"), &origin()).unwrap();
    assert_eq!(ours.records.len(), 29);
    let out = nsd_checkzone(&dir, "example.test.zone");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "nsd-checkzone refused the fixture: {}{printed}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = parse_str(&printed, Path::new("nsd-checkzone-output"), &origin())
        .unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(keys(&ours), keys(&theirs), "NSD printed:\n{printed}");
}

#[test]
fn nsd_refuses_what_we_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let head = "$TTL 60\n@ SOA ns1 hostmaster 1 2 3 4 5\n";
    for body in [
        "w CNAME x\nw A 192.0.2.1\n",
        "d DNAME x.\nx.d A 192.0.2.1\n",
        "www.example.org. A 192.0.2.1\n",
        "a A 192.0.2.256\n",
        "a AAAA 2001:db8::g\n",
        // NSD 4.6.1 accepts three things we refuse, so they are not listed here: "MX 65536"
        // (wrapped to 0), "TXT ( x" with the '(' never closed, and "\\# 3 0102" (the length
        // not matching the data, against RFC 3597 s5).
        "a FOO 1\n",
        "a MX 10\n",
        "a A 192.0.2.1 192.0.2.2\n",
        "a TXT \"x\n",
        "a TYPE65280 \\# 2 010\n",
        "a A \\# 3 010203\n",
        "a CH A 192.0.2.1\n",
        "w CNAME x\nw CNAME y\n",
        "@ CNAME x.\n",
        "d DNAME a.\nd DNAME b.\n",
        "@ SOA ns2 h 2 2 3 4 5\n",
        "sub SOA ns2 h 2 2 3 4 5\n",
        &format!("{} A 192.0.2.1\n", "a".repeat(64)),
        &format!("t TXT \"{}\"\n", "x".repeat(256)),
        // Not "a 2147483648 A ...": NSD 4.6.1 replaces the TTL with 3600; we refuse it.
    ] {
        let text = format!("{head}{body}");
        std::fs::write(dir.path().join("z.zone"), &text).unwrap();
        assert!(parse(&text).is_err(), "we accept {body:?}");
        let out = nsd_checkzone(dir.path(), "z.zone");
        assert!(!out.status.success(), "NSD accepts {body:?}");
    }
    // No SOA at all.
    let text = "$TTL 60\na A 192.0.2.1\n";
    std::fs::write(dir.path().join("z.zone"), text).unwrap();
    assert!(parse(text).is_err());
    assert!(!nsd_checkzone(dir.path(), "z.zone").status.success());
}
