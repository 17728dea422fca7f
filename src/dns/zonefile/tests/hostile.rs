//! Hostile files: `$INCLUDE` confined to the zone folder (symlinks resolved), FIFOs, devices
//! and folders refused without blocking, size limits, and messages that give file, line and
//! column but never the text found.

#![allow(clippy::disallowed_methods)] // measures that nothing blocks

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::config::ZoneFileRules;

fn rules(outside: bool, max_bytes: u64) -> ZoneFileRules {
    ZoneFileRules {
        include_outside_zone_dir: outside,
        max_bytes,
    }
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn includes_stay_in_the_zone_folder_unless_allowed() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("zones");
    fs::create_dir(&dir).unwrap();
    fs::write(outer.path().join("out.inc"), "www 60 A 192.0.2.1\n").unwrap();
    std::os::unix::fs::symlink(outer.path().join("out.inc"), dir.join("link.inc")).unwrap();
    for inc in ["../out.inc", "link.inc"] {
        let top = dir.join("z.zone");
        fs::write(&top, format!("{SOA}$INCLUDE {inc}\n")).unwrap();
        let e = parse_file(&top, &origin()).unwrap_err();
        assert!(e.reason.contains("outside the zone folder"), "{inc}: {e}");
        assert!(e.reason.contains("include_outside_zone_dir = true"), "{e}");
        assert_eq!((e.line, e.column), (2, 10), "{e}");
        let z = parse_file_with(&top, &origin(), rules(true, 1 << 20)).unwrap();
        assert_eq!(z.records.len(), 2, "{inc}");
    }
}

#[test]
fn fifos_devices_and_folders_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("fifo.inc"));
    fs::create_dir(dir.path().join("sub.inc")).unwrap();
    mkfifo(&dir.path().join("fifo.test.zone"));
    let start = Instant::now();
    for (inc, what) in [
        ("fifo.inc", "a FIFO"),
        ("/dev/zero", "a character device"),
        ("sub.inc", "a directory"),
    ] {
        let top = dir.path().join("z.zone");
        fs::write(&top, format!("{SOA}$INCLUDE {inc}\n")).unwrap();
        let e = parse_file_with(&top, &origin(), rules(true, 1 << 20)).unwrap_err();
        assert!(e.reason.contains(what), "{inc}: {e}");
    }
    let fifo = WireName::from_ascii("fifo.test.", &WireName::root()).unwrap();
    let e = parse_file(&dir.path().join("fifo.test.zone"), &fifo).unwrap_err();
    assert!(e.reason.contains("a FIFO, not a regular file"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn zone_files_and_includes_have_a_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("z.zone");
    fs::write(&top, format!("{SOA}$INCLUDE big.inc\n")).unwrap();
    let mut big = String::new();
    for i in 0..200 {
        big.push_str(&format!("h{i} 60 A 192.0.2.1\n"));
    }
    fs::write(dir.path().join("big.inc"), &big).unwrap();
    assert!(parse_file_with(&top, &origin(), rules(false, 1 << 20)).is_ok());
    let e = parse_file_with(&top, &origin(), rules(false, 1024)).unwrap_err();
    assert!(
        e.reason.contains("larger than the limit of 1024 bytes"),
        "{e}"
    );
    assert_eq!(e.file, top);
    let e = parse_file_with(&top, &origin(), rules(false, 40)).unwrap_err();
    assert!(e.reason.contains("cannot read zone file"), "{e}");
}

#[test]
fn messages_never_quote_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("z.zone");
    // What /proc/self/environ or a key file read as a zone would look like.
    for (secret, line, col) in [
        ("HOME=/root\0SECRET=hunter2xyz\0", 1, 0),
        ("www 60 A hunter2xyz\n", 1, 10),
        ("www 60 hunter2xyz 192.0.2.1\n", 1, 8),
        ("www 60 TXT ok\n   60 MX hunter2xyz mail\n", 2, 10),
    ] {
        fs::write(dir.path().join("s.inc"), secret).unwrap();
        fs::write(&top, format!("{SOA}$INCLUDE s.inc\n")).unwrap();
        let e = parse_file(&top, &origin()).unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(e.file, dir.path().join("s.inc"), "{shown}");
        assert_eq!((e.line, e.column), (line, col), "{shown}");
    }
}
