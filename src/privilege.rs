//! Dropping root after binding (`[server] user`, `group`): the supplementary groups, the
//! group and the user are switched for good (real, effective and saved ids), then the
//! capability sets are cut to what the process still needs: `CAP_NET_ADMIN` for IPVS when
//! `[lvs]` is set, nothing otherwise. The result is verified (ids, groups, capability sets,
//! and that `setresuid(0)` now fails) before the server reports itself ready.
//!
//! Threads: the C library applies `setgroups`, `setresgid` and `setresuid` to every thread of
//! the process; capabilities are per thread. A thread whose ids leave root loses all its
//! capabilities unless its "keep capabilities" flag is set, which [`drop_to`] sets only on the
//! calling thread. So with [`Keep::NetAdmin`], the caller must be the one thread that talks to
//! IPVS (`lvs::KernelThread`): it alone keeps `CAP_NET_ADMIN`; every other thread holds none.

mod account;
pub mod caps;

pub use account::{AccountError, resolve};

use std::io;

/// The account to run as once every socket is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub group: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the user's groups in the group database, `gid` included).
    pub groups: Vec<u32>,
}

/// Which capability the calling thread keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Nothing,
    /// `CAP_NET_ADMIN` (IPVS, sync daemons).
    NetAdmin,
}

impl Keep {
    /// The capability bits kept.
    pub fn bits(self) -> u64 {
        match self {
            Keep::Nothing => 0,
            Keep::NetAdmin => 1 << caps::CAP_NET_ADMIN,
        }
    }
}

/// What [`drop_to`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Root was left for the account.
    Switched,
    /// The process already ran as that account (as under the systemd units, or `root` named
    /// while running as root): nothing to do.
    AlreadyThere,
}

/// Why the drop failed; the process must not serve after this.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(
        "server.user = \"{user}\": the process runs as uid {uid}, not root, and cannot become \
         uid {target}; start it as root or as {user}, or remove `user`"
    )]
    NotRoot { user: String, uid: u32, target: u32 },
    #[error("server.user = \"{user}\": {step} failed: {source}")]
    Step {
        user: String,
        step: &'static str,
        source: io::Error,
    },
    #[error("server.user = \"{user}\": after the switch, {what}")]
    Verify { user: String, what: String },
}

fn check(user: &str, step: &'static str, r: libc::c_int) -> Result<(), PrivilegeError> {
    if r == 0 {
        return Ok(());
    }
    Err(PrivilegeError::Step {
        user: user.into(),
        step,
        source: io::Error::last_os_error(),
    })
}

fn resuid() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: getresuid writes three ids through valid pointers; it cannot fail here.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

fn resgid() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: as in `resuid`.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    (r, e, s)
}

/// Becomes `to` for good and keeps only `keep` on the calling thread (see the module doc).
pub fn drop_to(to: &RunAs, keep: Keep) -> Result<Dropped, PrivilegeError> {
    let user = to.user.as_str();
    let (ruid, euid, suid) = resuid();
    if (ruid, euid, suid) == (to.uid, to.uid, to.uid) {
        return Ok(Dropped::AlreadyThere);
    }
    if euid != 0 {
        return Err(PrivilegeError::NotRoot {
            user: user.into(),
            uid: euid,
            target: to.uid,
        });
    }
    let keep_flag = |on: libc::c_ulong| {
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on, 0, 0, 0) };
        check(user, "prctl(PR_SET_KEEPCAPS)", r)
    };
    if keep != Keep::Nothing {
        keep_flag(1)?;
    }
    // SAFETY: the list holds `groups.len()` ids.
    let r = unsafe { libc::setgroups(to.groups.len(), to.groups.as_ptr()) };
    check(user, "setgroups", r)?;
    // SAFETY: plain id arguments; the C library applies them to every thread.
    check(user, "setresgid", unsafe {
        libc::setresgid(to.gid, to.gid, to.gid)
    })?;
    // SAFETY: as above.
    check(user, "setresuid", unsafe {
        libc::setresuid(to.uid, to.uid, to.uid)
    })?;
    let want = keep.bits();
    let sets = caps::Sets {
        effective: want,
        permitted: want,
        inheritable: 0,
    };
    caps::set(sets).map_err(|source| PrivilegeError::Step {
        user: user.into(),
        step: "capset",
        source,
    })?;
    if keep != Keep::Nothing {
        keep_flag(0)?;
    }
    // SAFETY: prctl with integer arguments only. EINVAL on kernels without ambient sets
    // (before 4.3), which then have none to clear.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    verify(to, sets)?;
    Ok(Dropped::Switched)
}

/// The calling thread runs as `to` with exactly `sets`, and cannot get root back.
fn verify(to: &RunAs, sets: caps::Sets) -> Result<(), PrivilegeError> {
    let fail = |what: String| PrivilegeError::Verify {
        user: to.user.clone(),
        what,
    };
    let u = resuid();
    if u != (to.uid, to.uid, to.uid) {
        return Err(fail(format!("the user ids are {u:?}, not {}", to.uid)));
    }
    let g = resgid();
    if g != (to.gid, to.gid, to.gid) {
        return Err(fail(format!("the group ids are {g:?}, not {}", to.gid)));
    }
    let mut list = vec![0 as libc::gid_t; to.groups.len() + 1];
    // SAFETY: `list` holds as many ids as the size passed.
    let n = unsafe { libc::getgroups(list.len() as libc::c_int, list.as_mut_ptr()) };
    list.truncate(usize::try_from(n).unwrap_or(0));
    list.sort_unstable();
    if list != to.groups {
        return Err(fail(format!(
            "the supplementary groups are {list:?}, not {:?}",
            to.groups
        )));
    }
    let have = caps::get().map_err(|e| fail(format!("capget failed: {e}")))?;
    if have != sets {
        return Err(fail(format!(
            "the capability sets are {have:x?}, not {sets:x?}"
        )));
    }
    // The raw system call (this thread only): it must be refused.
    // SAFETY: plain id arguments.
    let back = unsafe { libc::syscall(libc::SYS_setresuid, 0, 0, 0) };
    if back == 0 || resuid().1 == 0 {
        return Err(fail(
            "setresuid(0) succeeded: root could be regained".into(),
        ));
    }
    Ok(())
}

/// Whether the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    resuid().1 == 0
}
