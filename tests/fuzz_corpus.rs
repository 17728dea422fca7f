//! Replays every committed fuzzing corpus file (fuzz/corpus/<target>/) through the same
//! harness the cargo-fuzz target runs (`meridian::fuzzing`), on stable Rust, so the corpora
//! and the crashes kept in them stay exercised by `cargo test`. docs/reliability.md has the
//! fuzzing commands.

use std::path::Path;

/// Runs `harness` on every file of fuzz/corpus/`target`; returns how many were replayed.
fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        // A panic names the file that caused it.
        let name = f.display().to_string();
        let r = std::panic::catch_unwind(|| harness(&data));
        assert!(r.is_ok(), "{name} fails its fuzzing harness");
    }
    assert!(!files.is_empty(), "no corpus for {target}");
    eprintln!("{target}: {} corpus files replayed", files.len());
    files.len()
}

#[test]
fn wire_answer_corpus() {
    replay("wire_answer", meridian::fuzzing::wire_answer);
}

#[test]
fn zonefile_corpus() {
    replay("zonefile", meridian::fuzzing::zonefile);
}

#[test]
fn policy_corpus() {
    replay("policy", meridian::fuzzing::policy);
}

#[test]
fn netlink_corpus() {
    replay("netlink", meridian::fuzzing::netlink);
}

#[test]
fn ecs_corpus() {
    replay("ecs", meridian::fuzzing::ecs);
}
