//! The calling thread's capability sets, read and written with capget(2)/capset(2)
//! (`_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set).

use std::io;

/// `_LINUX_CAPABILITY_VERSION_3`.
const VERSION_3: u32 = 0x2008_0522;

/// `CAP_NET_ADMIN`: IPVS over generic netlink and its sync daemons.
pub const CAP_NET_ADMIN: u32 = 12;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// A thread's effective, permitted and inheritable sets, one bit per capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

fn join(d: &[Data; 2], f: impl Fn(&Data) -> u32) -> u64 {
    u64::from(f(&d[0])) | (u64::from(f(&d[1])) << 32)
}

/// The calling thread's sets.
pub fn get() -> io::Result<Sets> {
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget writes two `Data` structs (version 3) through valid pointers.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Sets {
        effective: join(&d, |x| x.effective),
        permitted: join(&d, |x| x.permitted),
        inheritable: join(&d, |x| x.inheritable),
    })
}

/// Sets the calling thread's sets (only ever lowering them here).
pub fn set(s: Sets) -> io::Result<()> {
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let split = |v: u64| (v as u32, (v >> 32) as u32);
    let (e0, e1) = split(s.effective);
    let (p0, p1) = split(s.permitted);
    let (i0, i1) = split(s.inheritable);
    let d = [
        Data {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        Data {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: capset reads a header and two `Data` structs through valid pointers.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calling_threads_sets_can_be_read_and_rewritten_unchanged() {
        let s = get().unwrap();
        // Permitted is a superset of effective, for any process.
        assert_eq!(s.effective & !s.permitted, 0);
        set(s).unwrap();
        assert_eq!(get().unwrap(), s);
    }
}
