//! What `meridian check` validates (everything `serve` would load), and giving freed heap
//! back after a load.

use std::path::Path;

use super::{ServeError, build_snapshot};
use crate::config::{self, Config};
use crate::dns::LoadError;
use crate::health::TargetSet;
use crate::state::Snapshot;

/// Glibc's trim threshold, fixed: by default it grows to twice the largest directly mapped
/// block ever freed (up to 64 MiB), and a thread's arena other than the main one gives back
/// its free top only above that threshold (`malloc_trim` does not trim those tops). Loading
/// a large zone frees blocks of tens of MiB, so after a reload up to 64 MiB per arena stayed
/// resident, differently each time. Fixing the threshold also fixes the mmap threshold at
/// its 128 KiB default: larger blocks (a big zone's node array and index) are mapped on
/// their own and unmapped when freed. The query path allocates nothing.
const TRIM_THRESHOLD: libc::c_int = 1 << 20;

/// Sets the allocator's trim threshold (above); called once when `serve` starts.
pub(super) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets one of the allocator's parameters.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Give the heap's free pages back to the system after a load or a reload: parsing a large
/// zone leaves several times the zone's own size freed but still resident (glibc keeps it).
pub(super) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; no pointer is passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Validate everything `serve` would load (used by `meridian check`): the policy, its
/// databases and CIDR files, the health targets, and every zone.
pub fn check(path: &Path) -> Result<Checked, ServeError> {
    let config = config::load(path)?;
    TargetSet::from_config(&config)?;
    let (snapshot, zone_errors) = build_snapshot(&config, None, None)?;
    Ok(Checked {
        config,
        snapshot,
        zone_errors,
    })
}

/// What [`check`] loaded: the configuration, the snapshot `serve` would start with, and the
/// zones it refused (the snapshot serves the others).
pub struct Checked {
    pub config: Config,
    pub snapshot: Snapshot,
    pub zone_errors: Vec<LoadError>,
}
