//! Loading zones so that a reload gives their memory back: [`load_zones_compact`].
//!
//! Parsing and compiling a zone allocates several times the zone's final size in short-lived
//! pieces (records, owner maps, duplicate checks) between the pieces the zone keeps. Freed,
//! those leave the zone's pages full of holes that glibc's `malloc_trim` cannot return, and
//! each reload adds a generation of holes: at 1 000 000 records the zone's live data is
//! 340 MiB but the process kept 770 MiB after the first load, more after reloads.
//!
//! glibc gives every thread an arena of its own (until 8 per core exist), and a chunk always
//! returns to the arena it came from. So the load runs on a long-lived *scratch* thread, whose
//! arena holds every temporary, and the finished [`ZoneSet`] is then copied (one deep clone,
//! in order, no holes) by one of two long-lived *home* threads, used in turn: a load's copy
//! lands in the arena the load before last used, emptied when the last reload replaced it.
//! Once the scratch copy is dropped, the scratch arena is empty and the caller's
//! `malloc_trim` returns it whole; so does the old home arena once the replaced snapshot is
//! dropped. Nothing changes on the query path: the zones are the same types.
//!
//! Should a worker thread be unavailable (it could not be started, or a load panicked on it),
//! the load runs on the calling thread as before.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use super::{LoadError, ZoneSet, load_zones_with};
use crate::config::ZoneFileRules;

type Job = Box<dyn FnOnce() + Send>;

/// A worker thread that runs jobs in order.
struct Worker(Mutex<Sender<Job>>);

impl Worker {
    fn start(name: &str) -> Option<Worker> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            })
            .ok()?;
        Some(Worker(Mutex::new(tx)))
    }

    /// Runs `f` on this worker and waits for its result; `None` when the worker is gone.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.0.lock().ok()?.send(job).ok()?;
        rx.recv().ok()
    }
}

/// The scratch worker and the two home workers, started on first use.
struct Workers {
    scratch: Worker,
    home: [Worker; 2],
    turn: AtomicUsize,
}

fn workers() -> Option<&'static Workers> {
    static W: OnceLock<Option<Workers>> = OnceLock::new();
    W.get_or_init(|| {
        Some(Workers {
            scratch: Worker::start("zone-scratch")?,
            home: [Worker::start("zone-home-0")?, Worker::start("zone-home-1")?],
            turn: AtomicUsize::new(0),
        })
    })
    .as_ref()
}

/// [`load_zones_with`], with the zones laid out compactly in an arena of their own (see the
/// module documentation). Loads should not overlap (the serve loop runs one at a time); if
/// they do, they are still correct, only less compact.
pub fn load_zones_compact(files: &[PathBuf], rules: ZoneFileRules) -> (ZoneSet, Vec<LoadError>) {
    compact(files, rules).unwrap_or_else(|| load_zones_with(files, rules))
}

fn compact(files: &[PathBuf], rules: ZoneFileRules) -> Option<(ZoneSet, Vec<LoadError>)> {
    let w = workers()?;
    let owned = files.to_vec();
    let loaded = Arc::new(w.scratch.run(move || load_zones_with(&owned, rules))?);
    let home = &w.home[w.turn.fetch_add(1, Ordering::Relaxed) % 2];
    let shared = loaded.clone();
    let copy = home.run(move || (*shared).clone());
    // The scratch copy is freed where it was made, so the scratch thread's cache keeps
    // nothing of it for other arenas; when the worker is gone it is freed here.
    let _ = w.scratch.run(move || drop(loaded));
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_copy_equals_a_plain_load_and_keeps_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("c.test.zone");
        std::fs::write(
            &good,
            "$ORIGIN c.test.\n$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
             *.w TXT \"x\"\na.b MX 10 ns1\n",
        )
        .unwrap();
        let bad = dir.path().join("bad.test.zone");
        std::fs::write(&bad, "$ORIGIN bad.test.\nfoo A 192.0.2.1\n").unwrap();
        let files = vec![good, bad];
        let rules = ZoneFileRules::default();
        for _ in 0..3 {
            let (plain, plain_errors) = load_zones_with(&files, rules);
            let (compact, errors) = load_zones_compact(&files, rules);
            assert_eq!(errors, plain_errors);
            assert_eq!(errors.len(), 1);
            assert_eq!(compact.len(), 1);
            let (a, b) = (&compact.zones[0], &plain.zones[0]);
            assert_eq!((&a.origin, &a.nodes, a.apex), (&b.origin, &b.nodes, b.apex));
            assert_eq!(a.index, b.index);
            assert!(compact.find(b"\x01x\x01w\x01c\x04test\x00").is_some());
        }
    }
}
