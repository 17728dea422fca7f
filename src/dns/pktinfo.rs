//! The destination address of a UDP query on a wildcard socket (`0.0.0.0:53`, `[::]:53`),
//! so that the reply leaves from the address the query was sent to.
//!
//! A socket bound to the wildcard address lets the kernel pick each reply's source address
//! by route, which on a host with several addresses may differ from the one the client
//! asked: the client (a connected socket, or any resolver that checks) then drops the reply.
//! With `IP_PKTINFO` / `IPV6_RECVPKTINFO` on, `recvmmsg` returns each query's destination in
//! a control message; the reply carries it back in an `IP_PKTINFO` (`ipi_spec_dst`) or
//! `IPV6_PKTINFO` control message, which sets the source address (ip(7), ipv6(7)).
//!
//! Only wildcard sockets turn this on: a socket bound to one address already answers from
//! it, and its fast path stays without control messages. The buffers are fixed arrays, so
//! nothing here allocates.

use std::mem::size_of;
use std::os::fd::AsRawFd;

/// Room for one control message with either structure (`CMSG_SPACE(20)` is 40 on 64-bit).
pub const CTRL_LEN: usize = 64;

/// A control-message buffer, aligned for `cmsghdr`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct Ctrl(pub [u8; CTRL_LEN]);

impl Default for Ctrl {
    fn default() -> Self {
        Ctrl([0; CTRL_LEN])
    }
}

/// Where a query was sent: the address to answer from.
#[derive(Clone, Copy)]
pub enum Dst {
    V4(libc::in_addr),
    /// The address, and the interface index (kept only for link-local addresses, which need
    /// it; others leave the interface to the routing table).
    V6(libc::in6_addr, u32),
}

/// Sets an integer socket option (`SO_RCVBUFFORCE` in `udp` uses it too).
pub(crate) fn setsockopt_int(
    fd: i32,
    level: i32,
    name: i32,
    v: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: setsockopt reads one c_int through a valid pointer.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the kernel for each datagram's destination address on `sock`.
pub fn enable(sock: &impl AsRawFd, v6: bool) -> std::io::Result<()> {
    if v6 {
        setsockopt_int(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            1,
        )
    } else {
        setsockopt_int(sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    }
}

/// The destination address in a received message's control data, if the kernel gave one
/// (and did not truncate it).
pub fn destination(h: &libc::msghdr) -> Option<Dst> {
    if h.msg_flags & libc::MSG_CTRUNC != 0 || h.msg_control.is_null() {
        return None;
    }
    // SAFETY: msg_control/msg_controllen describe the buffer the kernel just filled; the
    // CMSG_* walk stays inside it and each payload is read unaligned at its stated length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let len = (*c).cmsg_len as usize;
            let data = libc::CMSG_DATA(c);
            let payload = len.saturating_sub(data as usize - c as usize);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if payload >= size_of::<libc::in_pktinfo>() =>
                {
                    let p: libc::in_pktinfo = std::ptr::read_unaligned(data.cast());
                    return Some(Dst::V4(p.ipi_spec_dst));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if payload >= size_of::<libc::in6_pktinfo>() =>
                {
                    let p: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                    let link_local =
                        p.ipi6_addr.s6_addr[0] == 0xfe && p.ipi6_addr.s6_addr[1] & 0xc0 == 0x80;
                    let ifindex = if link_local { p.ipi6_ifindex } else { 0 };
                    return Some(Dst::V6(p.ipi6_addr, ifindex));
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// Writes the control message that makes a reply leave from `dst` into `ctrl`, and points
/// `h` at it.
pub fn set_source(h: &mut libc::msghdr, ctrl: &mut Ctrl, dst: Dst) {
    let (level, kind, size) = match dst {
        Dst::V4(_) => (
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            size_of::<libc::in_pktinfo>(),
        ),
        Dst::V6(..) => (
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            size_of::<libc::in6_pktinfo>(),
        ),
    };
    h.msg_control = ctrl.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE of a structure size is a constant computation.
    h.msg_controllen = unsafe { libc::CMSG_SPACE(size as u32) } as usize;
    // SAFETY: `ctrl` is aligned for cmsghdr and holds CMSG_SPACE(size) <= CTRL_LEN bytes (a
    // test checks), so the header and the payload written below fit.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(h);
        if c.is_null() {
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            return;
        }
        (*c).cmsg_level = level;
        (*c).cmsg_type = kind;
        (*c).cmsg_len = libc::CMSG_LEN(size as u32) as usize;
        let data = libc::CMSG_DATA(c);
        match dst {
            Dst::V4(addr) => std::ptr::write_unaligned(
                data.cast(),
                libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: addr,
                    ipi_addr: libc::in_addr { s_addr: 0 },
                },
            ),
            Dst::V6(addr, ifindex) => std::ptr::write_unaligned(
                data.cast(),
                libc::in6_pktinfo {
                    ipi6_addr: addr,
                    ipi6_ifindex: ifindex,
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_control_messages_fit_the_buffer() {
        // SAFETY: constant computations.
        let (v4, v6) = unsafe {
            (
                libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize,
                libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as usize,
            )
        };
        assert!(v4 <= CTRL_LEN && v6 <= CTRL_LEN, "{v4} {v6}");
    }

    #[test]
    fn a_written_source_reads_back() {
        // SAFETY: all-zero is a valid msghdr.
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut ctrl = Ctrl::default();
        let a = libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::new(127, 0, 0, 2)).to_be(),
        };
        set_source(&mut h, &mut ctrl, Dst::V4(a));
        let Some(Dst::V4(b)) = destination(&h) else {
            panic!("no IPv4 destination");
        };
        assert_eq!(b.s_addr, a.s_addr);
        let mut s6 = [0u8; 16];
        s6[0] = 0xfd;
        s6[15] = 2;
        set_source(
            &mut h,
            &mut ctrl,
            Dst::V6(libc::in6_addr { s6_addr: s6 }, 0),
        );
        let Some(Dst::V6(b, 0)) = destination(&h) else {
            panic!("no IPv6 destination");
        };
        assert_eq!(b.s6_addr, s6);
    }
}
