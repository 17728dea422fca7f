//! The little rtnetlink `realserver` needs: dump links and addresses, add and remove an
//! address, set a device up or down, create the ipip device. Messages are built and parsed
//! here (tested on bytes); the socket is the director's netlink socket on `NETLINK_ROUTE`.
//!
//! Why not `ip`/`sysctl` commands: the real server host may lack iproute2 (busybox `ip` differs
//! in output and options), `--check` would parse human output, and errors would come back as
//! text; netlink gives the kernel's own state and errno, in the process's network namespace.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::lvs::codec::{
    AttrWriter, Attrs, DecodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_HDRLEN,
};
use crate::lvs::netlink::{GenlSocket, NlError};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 1;
/// `sizeof(struct ifinfomsg)`, `sizeof(struct ifaddrmsg)`.
const IFINFO_LEN: usize = 16;
const IFADDR_LEN: usize = 8;

/// A network device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
}

/// One request: `nlmsghdr` + the fixed header + attributes.
fn message(ty: u16, flags: u16, seq: u32, fixed: &[u8], attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + fixed.len() + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(fixed);
    m.extend_from_slice(attrs);
    m
}

/// `struct ifinfomsg` with index, flags and change mask.
fn ifinfo(index: u32, flags: u32, change: u32) -> [u8; IFINFO_LEN] {
    let mut b = [0u8; IFINFO_LEN];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

fn family(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// RTM_NEWADDR / RTM_DELADDR for a host address (/32, /128), scope global.
pub fn addr_request(ty: u16, flags: u16, seq: u32, index: u32, ip: IpAddr) -> Vec<u8> {
    let mut fixed = [0u8; IFADDR_LEN];
    fixed[0] = family(ip);
    fixed[1] = if ip.is_ipv4() { 32 } else { 128 };
    fixed[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut w = AttrWriter::new();
    if ip.is_ipv4() {
        w.bytes(IFA_LOCAL, &octets(ip));
    }
    w.bytes(IFA_ADDRESS, &octets(ip));
    message(ty, flags, seq, &fixed, &w.buf)
}

/// RTM_NEWLINK creating an `ipip` device named `name`.
pub fn create_ipip_request(seq: u32, name: &str) -> Vec<u8> {
    let mut w = AttrWriter::new();
    w.string(IFLA_IFNAME, name);
    let n = w.begin_nest(IFLA_LINKINFO);
    w.string(IFLA_INFO_KIND, "ipip");
    w.end_nest(n);
    message(
        RTM_NEWLINK,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        seq,
        &ifinfo(0, 0, 0),
        &w.buf,
    )
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, DecodeError> {
    b.get(at..at + 4)
        .map(|x| u32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or(DecodeError::Truncated("rtnetlink header"))
}

/// A link from an RTM_NEWLINK payload.
pub fn parse_link(p: &[u8]) -> Result<Link, DecodeError> {
    let index = u32_at(p, 4)?;
    let flags = u32_at(p, 8)?;
    let mut name = String::new();
    for a in Attrs::new(p.get(IFINFO_LEN..).unwrap_or(&[])) {
        let (t, v) = a?;
        if t == IFLA_IFNAME {
            name = crate::lvs::codec::get_string(v)?;
        }
    }
    Ok(Link {
        index,
        name,
        up: flags & IFF_UP != 0,
    })
}

/// (device index, address) from an RTM_NEWADDR payload: IFA_LOCAL, else IFA_ADDRESS.
pub fn parse_addr(p: &[u8]) -> Result<Option<(u32, IpAddr)>, DecodeError> {
    let fam = *p.first().ok_or(DecodeError::Truncated("ifaddrmsg"))?;
    let index = u32_at(p, 4)?;
    let (mut local, mut address) = (None, None);
    for a in Attrs::new(p.get(IFADDR_LEN..).unwrap_or(&[])) {
        let (t, v) = a?;
        let ip = match (i32::from(fam), v.len()) {
            (libc::AF_INET, 4) => IpAddr::from([v[0], v[1], v[2], v[3]]),
            (libc::AF_INET6, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(v);
                IpAddr::from(b)
            }
            _ => continue,
        };
        match t {
            IFA_LOCAL => local = Some(ip),
            IFA_ADDRESS => address = Some(ip),
            _ => {}
        }
    }
    Ok(local.or(address).map(|ip| (index, ip)))
}

/// A `NETLINK_ROUTE` connection in the caller's network namespace.
pub struct Rtnl {
    sock: GenlSocket,
}

impl Rtnl {
    pub fn open() -> Result<Rtnl, NlError> {
        Ok(Rtnl {
            sock: GenlSocket::open_protocol(libc::NETLINK_ROUTE, Duration::from_secs(10))?,
        })
    }

    fn call(&mut self, req_of: impl FnOnce(u32) -> Vec<u8>) -> Result<(), NlError> {
        let seq = self.sock.next_seq();
        self.sock
            .exchange(&req_of(seq), seq, false, &mut |_| Ok(()))
    }

    /// Every device, by name.
    pub fn links(&mut self) -> Result<BTreeMap<String, Link>, NlError> {
        let seq = self.sock.next_seq();
        let req = message(RTM_GETLINK, NLM_F_DUMP, seq, &ifinfo(0, 0, 0), &[]);
        let mut out = BTreeMap::new();
        self.sock.exchange(&req, seq, true, &mut |p| {
            let l = parse_link(p)?;
            out.insert(l.name.clone(), l);
            Ok(())
        })?;
        Ok(out)
    }

    /// Every address, with its device index.
    pub fn addrs(&mut self) -> Result<Vec<(u32, IpAddr)>, NlError> {
        let seq = self.sock.next_seq();
        let req = message(RTM_GETADDR, NLM_F_DUMP, seq, &[0u8; IFADDR_LEN], &[]);
        let mut out = Vec::new();
        self.sock.exchange(&req, seq, true, &mut |p| {
            out.extend(parse_addr(p)?);
            Ok(())
        })?;
        Ok(out)
    }

    pub fn add_addr(&mut self, index: u32, ip: IpAddr) -> Result<(), NlError> {
        self.call(|seq| {
            addr_request(
                RTM_NEWADDR,
                NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                seq,
                index,
                ip,
            )
        })
    }

    pub fn del_addr(&mut self, index: u32, ip: IpAddr) -> Result<(), NlError> {
        self.call(|seq| addr_request(RTM_DELADDR, NLM_F_ACK, seq, index, ip))
    }

    pub fn set_up(&mut self, index: u32, up: bool) -> Result<(), NlError> {
        let flags = if up { IFF_UP } else { 0 };
        self.call(|seq| {
            message(
                RTM_NEWLINK,
                NLM_F_ACK,
                seq,
                &ifinfo(index, flags, IFF_UP),
                &[],
            )
        })
    }

    /// Create the ipip device (the kernel loads the `ipip` module for the request, which
    /// creates `tunl0` itself: "exists" is then success).
    pub fn create_ipip(&mut self, name: &str) -> Result<(), NlError> {
        match self.call(|seq| create_ipip_request(seq, name)) {
            Err(NlError::Errno(libc::EEXIST)) => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_request_bytes() {
        let m = addr_request(RTM_NEWADDR, NLM_F_ACK, 7, 1, "10.9.9.1".parse().unwrap());
        // header: len 40, type 20, flags REQUEST|ACK, seq 7
        assert_eq!(&m[..4], &40u32.to_ne_bytes());
        assert_eq!(&m[4..6], &20u16.to_ne_bytes());
        assert_eq!(&m[6..8], &5u16.to_ne_bytes());
        // ifaddrmsg: AF_INET, /32, index 1
        assert_eq!(&m[16..24], &[2, 32, 0, 0, 1, 0, 0, 0]);
        // IFA_LOCAL then IFA_ADDRESS, 8 bytes each
        assert_eq!(&m[24..32], &[8, 0, 2, 0, 10, 9, 9, 1]);
        assert_eq!(&m[32..40], &[8, 0, 1, 0, 10, 9, 9, 1]);
        let (idx, ip) = parse_addr(&m[16..]).unwrap().unwrap();
        assert_eq!((idx, ip), (1, "10.9.9.1".parse().unwrap()));
        let v6 = addr_request(RTM_DELADDR, NLM_F_ACK, 1, 3, "2001:db8::1".parse().unwrap());
        assert_eq!(v6[17], 128);
        let (idx, ip) = parse_addr(&v6[16..]).unwrap().unwrap();
        assert_eq!((idx, ip), (3, "2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn link_bytes() {
        let m = create_ipip_request(1, "tunl0");
        assert_eq!(&m[4..6], &16u16.to_ne_bytes());
        assert_eq!(&m[6..8], &(1u16 | 4 | 0x400 | 0x200).to_ne_bytes());
        let body = &m[16 + 16..];
        // IFLA_IFNAME "tunl0\0" (len 10, padded to 12), then IFLA_LINKINFO { KIND "ipip\0" }
        assert_eq!(&body[..10], b"\x0a\x00\x03\x00tunl0\x00");
        assert_eq!(&body[12..16], &[16, 0, 18, 0x80], "nested");
        assert_eq!(&body[16..25], b"\x09\x00\x01\x00ipip\x00");
        // an RTM_NEWLINK reply: index 4, flags UP, name
        let mut p = ifinfo(4, 1 | 0x40, 0).to_vec();
        p.extend_from_slice(b"\x0a\x00\x03\x00tunl0\x00\x00\x00");
        assert_eq!(
            parse_link(&p).unwrap(),
            Link {
                index: 4,
                name: "tunl0".into(),
                up: true
            }
        );
    }
}
