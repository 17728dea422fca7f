//! Leaving root once every socket is bound (`[server] user`): DNS over UDP and TCP, the
//! cluster's gossip socket, the BFD responder and the admin endpoint are all bound before
//! [`drop_privileges`] runs, and nothing binds afterwards (a reload cannot change a listen
//! address). With `[lvs]`, the switch is made on the IPVS thread, which alone keeps
//! `CAP_NET_ADMIN` (see `privilege`).
//!
//! Then what the process will still do as that user is tried at once, so that a file it can
//! no longer read fails the start rather than the next reload: the policy file is loaded
//! again (it names every file a reload reads: CIDR lists, geo databases, the cookie secret,
//! the cluster key), each zone file must be readable and the state file's folder writable.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::config::{self, Config};
use crate::lvs::KernelThread;
use crate::privilege::{self, Dropped, Keep, PrivilegeError};

use super::ServeError;

/// Drops root as `[server] user` says (nothing without it), then checks access.
pub(super) async fn drop_privileges(
    cfg: &Config,
    kernel: Option<&KernelThread>,
) -> Result<(), ServeError> {
    let Some(to) = cfg.server.run_as.clone() else {
        if privilege::is_root() {
            tracing::warn!(
                "running as root: set [server] user to leave root once the sockets are bound"
            );
        }
        return Ok(());
    };
    let keep = if cfg.lvs.is_some() {
        Keep::NetAdmin
    } else {
        Keep::Nothing
    };
    let target = to.clone();
    let dropped = match kernel {
        Some(k) if keep == Keep::NetAdmin => k
            .call(move || privilege::drop_to(&target, keep))
            .await
            .map_err(|e| {
                ServeError::Privilege(PrivilegeError::Verify {
                    user: to.user.clone(),
                    what: e.to_string(),
                })
            })??,
        _ => privilege::drop_to(&target, Keep::Nothing)?,
    };
    let kept = match keep {
        Keep::NetAdmin => "CAP_NET_ADMIN (IPVS thread only)",
        Keep::Nothing => "none",
    };
    match dropped {
        Dropped::Switched => tracing::info!(
            user = %to.user, uid = to.uid, group = %to.group, gid = to.gid,
            groups = ?to.groups, capabilities = kept, "left root"
        ),
        Dropped::AlreadyThere => {
            tracing::info!(user = %to.user, "already running as the configured user");
            return Ok(());
        }
    }
    let (path, zones, state) = (
        cfg.source.clone(),
        cfg.server.zone_files.clone(),
        cfg.health.state_file.clone(),
    );
    let user = to.user.clone();
    let problems = tokio::task::spawn_blocking(move || access_problems(&path, &zones, state))
        .await
        .unwrap_or_else(|e| vec![format!("the access check failed: {e}")]);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ServeError::Access {
        user,
        problems: problems.join("; "),
    })
}

fn can(path: &Path, mode: libc::c_int) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) on a NUL-terminated path; it checks the real ids, now the user's.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

/// What the process cannot do any more, one message each.
fn access_problems(
    path: &Path,
    zones: &[std::path::PathBuf],
    state: Option<std::path::PathBuf>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = config::load(path) {
        out.push(format!(
            "the policy file cannot be loaded again (reloads would fail): {e}"
        ));
    }
    for z in zones {
        if !can(z, libc::R_OK) {
            out.push(format!("zone file {} is not readable", z.display()));
        }
    }
    if let Some(s) = state {
        let dir = s
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !can(dir, libc::W_OK | libc::X_OK) {
            out.push(format!(
                "[health] state_file: its folder {} is not writable",
                dir.display()
            ));
        }
    }
    out
}
