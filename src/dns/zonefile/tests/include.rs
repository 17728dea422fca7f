//! `$INCLUDE`: relative paths, the origin argument, what returns to the including file,
//! and the refusals (missing file, loops, depth).

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn include_relative_to_including_file_with_origin() {
    let dir = tempfile::tempdir().unwrap();
    let top = write(
        dir.path(),
        "example.test.zone",
        &format!(
            "{SOA}$INCLUDE parts/hosts.inc\n$INCLUDE \"parts/sub.inc\" sub\nafter 60 A 192.0.2.9\n  TXT back\n"
        ),
    );
    // hosts.inc includes a file relative to its own folder (parts/).
    write(
        dir.path(),
        "parts/hosts.inc",
        "$ORIGIN elsewhere.example.test.\nwww 60 A 192.0.2.1\n$INCLUDE more.inc\n",
    );
    write(
        dir.path(),
        "parts/more.inc",
        "; comment\nmail 60 A 192.0.2.2\n",
    );
    write(
        dir.path(),
        "parts/sub.inc",
        "@ 60 A 192.0.2.3\nx 60 A 192.0.2.4\n",
    );
    let z = parse_file(&top, &origin()).unwrap();
    let got: Vec<(String, String, usize)> = z
        .records
        .iter()
        .map(|r| {
            let file = r
                .file
                .strip_prefix(dir.path())
                .unwrap()
                .display()
                .to_string();
            (r.owner.to_ascii(), file, r.line)
        })
        .collect();
    let want = [
        ("example.test.", "example.test.zone", 1),
        ("www.elsewhere.example.test.", "parts/hosts.inc", 2),
        ("mail.elsewhere.example.test.", "parts/more.inc", 2),
        ("sub.example.test.", "parts/sub.inc", 1),
        ("x.sub.example.test.", "parts/sub.inc", 2),
        // $ORIGIN inside an included file ends with it; the previous owner is the
        // including file's.
        ("after.example.test.", "example.test.zone", 4),
        ("after.example.test.", "example.test.zone", 5),
    ];
    let want: Vec<(String, String, usize)> = want
        .iter()
        .map(|(o, f, l)| (o.to_string(), f.to_string(), *l))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn ttl_set_in_included_file_stays() {
    let dir = tempfile::tempdir().unwrap();
    let top = write(
        dir.path(),
        "z.zone",
        &format!("{SOA}$INCLUDE t.inc\nb A 192.0.2.2\n"),
    );
    write(dir.path(), "t.inc", "$TTL 42\na A 192.0.2.1\n");
    let z = parse_file(&top, &origin()).unwrap();
    assert!(
        z.records[1..].iter().all(|r| r.ttl == 42),
        "{:?}",
        z.records
    );
}

#[test]
fn blank_owner_at_start_of_included_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let top = write(
        dir.path(),
        "z.zone",
        &format!("{SOA}www 60 A 192.0.2.1\n$INCLUDE b.inc\n"),
    );
    let inc = write(dir.path(), "b.inc", "  60 A 192.0.2.2\n");
    let e = parse_file(&top, &origin()).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (inc.as_path(), 1));
    assert!(e.reason.contains("no previous record"), "{e}");
}

#[test]
fn missing_include_names_the_including_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let top = write(
        dir.path(),
        "z.zone",
        &format!("{SOA}\n$INCLUDE nowhere.inc\n"),
    );
    let e = parse_file(&top, &origin()).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (top.as_path(), 3));
    assert!(e.reason.contains("cannot open $INCLUDE file"), "{e}");
    assert!(e.reason.contains("nowhere.inc"), "{e}");
}

#[test]
fn errors_inside_included_files_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let top = write(dir.path(), "z.zone", &format!("{SOA}$INCLUDE bad.inc\n"));
    let inc = write(
        dir.path(),
        "bad.inc",
        "ok 60 A 192.0.2.1\nbad 60 A 300.0.0.1\n",
    );
    let e = parse_file(&top, &origin()).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (inc.as_path(), 2));
    assert!(e.reason.contains("bad IPv4 address"), "{e}");
}

#[test]
fn include_loops_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let top = write(dir.path(), "z.zone", &format!("{SOA}$INCLUDE a.inc\n"));
    write(dir.path(), "a.inc", "$INCLUDE sub/b.inc\n");
    let b = write(
        dir.path(),
        "sub/b.inc",
        "x 60 A 192.0.2.1\n$INCLUDE ../a.inc\n",
    );
    let e = parse_file(&top, &origin()).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (b.as_path(), 2));
    assert!(e.reason.contains("$INCLUDE loop"), "{e}");
    // A file including itself, from parse_str with the real path.
    let me = write(
        dir.path(),
        "self.zone",
        &format!("{SOA}$INCLUDE self.zone\n"),
    );
    let text = fs::read_to_string(&me).unwrap();
    let e = parse_str(&text, &me, &origin()).unwrap_err();
    assert!(e.reason.contains("$INCLUDE loop"), "{e}");
}

#[test]
fn include_depth_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let top = write(dir.path(), "z.zone", &format!("{SOA}$INCLUDE d1.inc\n"));
    let files = MAX_INCLUDE_DEPTH + 2;
    for i in 1..=files {
        write(
            dir.path(),
            &format!("d{i}.inc"),
            &format!("h{i} 60 A 192.0.2.1\n$INCLUDE d{}.inc\n", i + 1),
        );
    }
    let e = parse_file(&top, &origin()).unwrap_err();
    assert!(e.reason.contains("nested more than 16 files deep"), "{e}");
    assert_eq!(e.file, dir.path().join(format!("d{MAX_INCLUDE_DEPTH}.inc")));
    // Exactly MAX_INCLUDE_DEPTH levels are fine.
    write(
        dir.path(),
        &format!("d{MAX_INCLUDE_DEPTH}.inc"),
        &format!("h{MAX_INCLUDE_DEPTH} 60 A 192.0.2.1\n"),
    );
    let z = parse_file(&top, &origin()).unwrap();
    assert_eq!(z.records.len(), 1 + MAX_INCLUDE_DEPTH);
}
