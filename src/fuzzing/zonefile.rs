//! The zone-file harness: bytes through the RFC 1035 reader and the zone compiler, then a
//! query for each of the first records through the answer core.
//!
//! Checks: no panic and no hang on any input; an error in the file itself names a line and
//! column inside it and a reason in printable ASCII (the reader never quotes the text it
//! found); a zone that reads prints back (owner, TTL, type, RDATA in presentation form) into
//! text that reads into the same records; its answers are well-formed responses.

use std::net::SocketAddr;
use std::path::Path;

use super::message;
use crate::dns::answer::{self, Transport};
use crate::dns::zone::{ZoneSet, build_zone};
use crate::dns::zonefile::{
    self, WireName, ZoneFileError, rdata_to_text, rdata_to_wire, type_to_text,
};
use crate::state::Snapshot;

/// Where the input is said to come from: a folder that does not exist, so an `$INCLUDE`
/// reads nothing from the machine.
const PATH: &str = "/nonexistent/meridian-fuzz/example.test.zone";

/// How many records are queried for once the zone compiles.
const QUERIES: usize = 8;

/// Reads `data` as the zone file of `example.test.`.
pub fn zonefile(data: &[u8]) {
    let path = Path::new(PATH);
    let origin = WireName::from_ascii("example.test.", &WireName::root())
        .expect("the fixed origin is a name");
    let parsed = match zonefile::parse_bytes(data, path, &origin) {
        Ok(p) => p,
        Err(e) => return check_error(data, path, &e),
    };
    let reprinted = reprint(&parsed);
    let again = zonefile::parse_str(&reprinted, path, &origin)
        .unwrap_or_else(|e| panic!("the printed zone does not read back: {e}\n{reprinted}"));
    assert_eq!(
        flat(&parsed),
        flat(&again),
        "printed zone reads differently\n{reprinted}"
    );
    let Ok(zone) = build_zone(&parsed, path) else {
        return;
    };
    let mut set = ZoneSet::default();
    set.insert(zone);
    let snap = Snapshot::new(set, 1232);
    let client: SocketAddr = "192.0.2.1:5300".parse().expect("fixed address parses");
    let mut out = Vec::new();
    for (i, r) in parsed.records.iter().take(QUERIES).enumerate() {
        let mut q = vec![0x10, i as u8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(r.owner.as_wire());
        q.extend_from_slice(&r.rtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        for t in [Transport::Udp, Transport::Tcp] {
            answer::answer_at(&snap, &q, client, t, 0, &mut out);
            let reply = message::read(&out);
            assert_eq!(reply.id, u16::from_be_bytes([q[0], q[1]]));
            if t == Transport::Udp {
                assert!(out.len() <= 512, "UDP reply of {} bytes", out.len());
            }
        }
    }
}

/// An error in the input itself points inside it and does not quote it.
fn check_error(data: &[u8], path: &Path, e: &ZoneFileError) {
    assert!(
        e.reason.chars().all(|c| c == ' ' || c.is_ascii_graphic()),
        "reason not printable ASCII: {:?}",
        e.reason
    );
    if e.file != path {
        return;
    }
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    assert!(
        (1..=lines.len()).contains(&e.line),
        "line {} of {}",
        e.line,
        lines.len()
    );
    let width = lines[e.line - 1].len();
    assert!(e.column <= width + 1, "column {} of {width}", e.column);
}

/// The zone in presentation form, one absolute record per line.
fn reprint(zone: &zonefile::ParsedZone) -> String {
    let mut text = String::new();
    for r in &zone.records {
        text.push_str(&format!(
            "{} {} IN {} {}\n",
            r.owner.to_ascii(),
            r.ttl,
            type_to_text(r.rtype),
            rdata_to_text(r.rtype, &r.rdata)
        ));
    }
    text
}

/// What must survive printing of one record: owner, TTL, class, type, RDATA's wire form.
type Flat = (Vec<u8>, u32, u16, u16, Vec<u8>);

/// The zone's records as [`Flat`] tuples.
fn flat(zone: &zonefile::ParsedZone) -> Vec<Flat> {
    zone.records
        .iter()
        .map(|r| {
            (
                r.owner.as_wire().to_vec(),
                r.ttl,
                r.class,
                r.rtype,
                rdata_to_wire(&r.rdata),
            )
        })
        .collect()
}
