//! Looking up the account named by `[server] user` and `group` in the system's user and group
//! databases (getpwnam_r, getgrnam_r, getgrouplist), as the C library sees them (NSS).

use std::ffi::{CStr, CString};

use super::RunAs;

/// Why an account could not be resolved; the message completes "server.user: ...".
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("no user `{0}` on this host")]
    NoUser(String),
    #[error("no group `{0}` on this host")]
    NoGroup(String),
    #[error("`{0}` is not a valid account name")]
    BadName(String),
    #[error("looking up `{name}` failed: {source}")]
    Lookup {
        name: String,
        source: std::io::Error,
    },
}

/// Largest buffer tried for one passwd or group entry.
const MAX_BUF: usize = 1 << 20;

fn cname(name: &str) -> Result<CString, AccountError> {
    if name.is_empty() {
        return Err(AccountError::BadName(name.into()));
    }
    CString::new(name).map_err(|_| AccountError::BadName(name.into()))
}

/// Resolves `user` (and `group`, default the user's primary group) to ids, with the user's
/// supplementary groups.
pub fn resolve(user: &str, group: Option<&str>) -> Result<RunAs, AccountError> {
    let cuser = cname(user)?;
    let (uid, primary) = passwd(&cuser, user)?;
    let (gid, group_name) = match group {
        Some(g) => (group_id(g)?, g.to_string()),
        None => (
            primary,
            group_name(primary).unwrap_or_else(|| primary.to_string()),
        ),
    };
    let groups = group_list(&cuser, gid);
    Ok(RunAs {
        user: user.to_string(),
        group: group_name,
        uid,
        gid,
        groups,
    })
}

fn passwd(c: &CStr, name: &str) -> Result<(u32, u32), AccountError> {
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: all-zero is a valid `passwd`; getpwnam_r fills it with pointers into `buf`.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: valid C string, struct, buffer of `size` bytes and result pointer.
        let r = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr(), size, &mut out) };
        if r == libc::ERANGE && size < MAX_BUF {
            size *= 4;
            continue;
        }
        if r != 0 {
            return Err(AccountError::Lookup {
                name: name.into(),
                source: std::io::Error::from_raw_os_error(r),
            });
        }
        if out.is_null() {
            return Err(AccountError::NoUser(name.into()));
        }
        return Ok((pw.pw_uid, pw.pw_gid));
    }
}

fn group_id(name: &str) -> Result<u32, AccountError> {
    let c = cname(name)?;
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: all-zero is a valid `group`; getgrnam_r fills it with pointers into `buf`.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::group = std::ptr::null_mut();
        // SAFETY: valid C string, struct, buffer of `size` bytes and result pointer.
        let r = unsafe { libc::getgrnam_r(c.as_ptr(), &mut gr, buf.as_mut_ptr(), size, &mut out) };
        if r == libc::ERANGE && size < MAX_BUF {
            size *= 4;
            continue;
        }
        if r != 0 {
            return Err(AccountError::Lookup {
                name: name.into(),
                source: std::io::Error::from_raw_os_error(r),
            });
        }
        if out.is_null() {
            return Err(AccountError::NoGroup(name.into()));
        }
        return Ok(gr.gr_gid);
    }
}

/// The name of group `gid`, for messages; None when it has none.
fn group_name(gid: u32) -> Option<String> {
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: as in `group_id`.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::group = std::ptr::null_mut();
        // SAFETY: valid struct, buffer of `size` bytes and result pointer.
        let r = unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), size, &mut out) };
        if r == libc::ERANGE && size < MAX_BUF {
            size *= 4;
            continue;
        }
        if r != 0 || out.is_null() || gr.gr_name.is_null() {
            return None;
        }
        // SAFETY: gr_name points at a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(gr.gr_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// The user's groups from the group database, `gid` included; sorted, each once.
fn group_list(user: &CStr, gid: u32) -> Vec<u32> {
    let mut n: libc::c_int = 32;
    loop {
        let mut list = vec![0 as libc::gid_t; n.max(1) as usize];
        let asked = n;
        // SAFETY: `list` holds `n` entries; getgrouplist writes at most that many and sets n.
        let r = unsafe { libc::getgrouplist(user.as_ptr(), gid, list.as_mut_ptr(), &mut n) };
        if r < 0 && n > asked && (n as usize) < 65_536 {
            continue;
        }
        let len = usize::try_from(n).unwrap_or(0).min(list.len());
        list.truncate(len);
        if !list.contains(&gid) {
            list.push(gid);
        }
        list.sort_unstable();
        list.dedup();
        return list;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_nobody_resolve_and_unknown_names_are_refused() {
        let root = resolve("root", None).unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        let nobody = resolve("nobody", Some("root")).unwrap();
        assert_eq!(nobody.uid, 65534);
        assert_eq!((nobody.gid, nobody.group.as_str()), (0, "root"));
        assert!(matches!(
            resolve("no-such-user-here", None),
            Err(AccountError::NoUser(_))
        ));
        assert!(matches!(
            resolve("nobody", Some("no-such-group-here")),
            Err(AccountError::NoGroup(_))
        ));
        assert!(matches!(
            resolve("a\0b", None),
            Err(AccountError::BadName(_))
        ));
    }
}
