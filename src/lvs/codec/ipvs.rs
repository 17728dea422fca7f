//! IPVS attribute sets: services, real servers, statistics, info, timeouts and sync daemons,
//! encoded as the kernel's `ip_vs_genl_parse_*` expects and decoded from its dump replies.
//!
//! Wire rules that are easy to get wrong (see the kernel's `ip_vs.h`): ports are network order
//! inside "u16" attributes; FLAGS is 8 bytes `{flags, mask}`; addresses go out as 16 bytes;
//! the IPv4 persistence netmask is big-endian mask bytes but the IPv6 one a host-order prefix
//! length; dumped flags carry the kernel-owned HASHED bit, stripped here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::VirtualKey;
use crate::lvs::model::*;

use super::consts::*;
use super::{
    AttrWriter, Attrs, DecodeError, get_be16, get_string, get_u8, get_u16, get_u32, get_u64,
};

fn addr16(ip: IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b = v6.octets(),
    }
    b
}

fn parse_addr(v: &[u8], af: u16, what: &'static str) -> Result<IpAddr, DecodeError> {
    match af {
        AF_INET if v.len() >= 4 => Ok(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        AF_INET6 if v.len() >= 16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&v[..16]);
            Ok(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => Err(DecodeError::Invalid(format!(
            "{what}: address of {} bytes for family {af}",
            v.len()
        ))),
    }
}

fn put_key(w: &mut AttrWriter, key: &VirtualKey) {
    w.u16(SVC_ATTR_AF, key_af(key));
    match key {
        VirtualKey::Addr { protocol, addr } => {
            w.u16(SVC_ATTR_PROTOCOL, protocol_number(*protocol));
            w.bytes(SVC_ATTR_ADDR, &addr16(addr.ip()));
            w.be16(SVC_ATTR_PORT, addr.port());
        }
        VirtualKey::Fwmark { fwmark, .. } => {
            w.u32(SVC_ATTR_FWMARK, *fwmark);
        }
    }
}

/// `CMD_ATTR_SERVICE` holding only the identity (DEL_SERVICE, GET_DEST, ZERO, dest ops).
pub fn service_key(w: &mut AttrWriter, key: &VirtualKey) {
    let n = w.begin_nest(CMD_ATTR_SERVICE);
    put_key(w, key);
    w.end_nest(n);
}

/// `CMD_ATTR_SERVICE` with every "full entry" attribute (NEW_SERVICE, SET_SERVICE).
pub fn service_full(w: &mut AttrWriter, s: &ServiceConf) {
    let n = w.begin_nest(CMD_ATTR_SERVICE);
    put_key(w, &s.key);
    w.string(SVC_ATTR_SCHED_NAME, &s.scheduler);
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&(s.flags & !SVC_F_HASHED).to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    w.bytes(SVC_ATTR_FLAGS, &flags);
    w.u32(SVC_ATTR_TIMEOUT, s.timeout);
    if key_af(&s.key) == AF_INET6 {
        w.u32(SVC_ATTR_NETMASK, s.netmask);
    } else {
        w.bytes(SVC_ATTR_NETMASK, &s.netmask.to_be_bytes());
    }
    w.end_nest(n);
}

/// `CMD_ATTR_DEST` with every "full entry" attribute (NEW_DEST, SET_DEST). `svc_af` is the
/// service's family: a real server of the other family (TUN only) carries ADDR_FAMILY.
pub fn dest_full(w: &mut AttrWriter, svc_af: u16, d: &DestConf) {
    let n = w.begin_nest(CMD_ATTR_DEST);
    w.bytes(DEST_ATTR_ADDR, &addr16(d.addr.ip()));
    w.be16(DEST_ATTR_PORT, d.addr.port());
    w.u32(DEST_ATTR_FWD_METHOD, forward_raw(d.forward));
    w.u32(DEST_ATTR_WEIGHT, d.weight);
    w.u32(DEST_ATTR_U_THRESH, d.u_threshold);
    w.u32(DEST_ATTR_L_THRESH, d.l_threshold);
    let af = af_of(d.addr.ip());
    if af != svc_af {
        w.u16(DEST_ATTR_ADDR_FAMILY, af);
    }
    // Only sent when set, so kernels older than 5.2 see the same request as ever.
    if d.tunnel != Tunnel::default() {
        let kind = match d.tunnel.kind {
            TunnelKind::Ipip => 0,
            TunnelKind::Gue => 1,
            TunnelKind::Gre => 2,
        };
        w.u8(DEST_ATTR_TUN_TYPE, kind);
        w.be16(DEST_ATTR_TUN_PORT, d.tunnel.port);
        w.u16(DEST_ATTR_TUN_FLAGS, d.tunnel.flags);
    }
    w.end_nest(n);
}

/// `CMD_ATTR_DEST` with only the identity (DEL_DEST).
pub fn dest_key(w: &mut AttrWriter, svc_af: u16, addr: SocketAddr) {
    let n = w.begin_nest(CMD_ATTR_DEST);
    w.bytes(DEST_ATTR_ADDR, &addr16(addr.ip()));
    w.be16(DEST_ATTR_PORT, addr.port());
    let af = af_of(addr.ip());
    if af != svc_af {
        w.u16(DEST_ATTR_ADDR_FAMILY, af);
    }
    w.end_nest(n);
}

/// SET_CONFIG attributes (0 = leave unchanged).
pub fn timeouts(w: &mut AttrWriter, t: &Timeouts) {
    w.u32(CMD_ATTR_TIMEOUT_TCP, t.tcp);
    w.u32(CMD_ATTR_TIMEOUT_TCP_FIN, t.tcp_fin);
    w.u32(CMD_ATTR_TIMEOUT_UDP, t.udp);
}

/// NEW_DAEMON attributes.
pub fn daemon(w: &mut AttrWriter, d: &Daemon) {
    let n = w.begin_nest(CMD_ATTR_DAEMON);
    w.u32(DAEMON_ATTR_STATE, d.state.raw());
    w.string(DAEMON_ATTR_MCAST_IFN, &d.ifname);
    w.u32(DAEMON_ATTR_SYNC_ID, d.sync_id);
    if let Some(m) = d.maxlen {
        w.u16(DAEMON_ATTR_SYNC_MAXLEN, m);
    }
    match d.group {
        Some(IpAddr::V4(g)) => {
            w.bytes(DAEMON_ATTR_MCAST_GROUP, &g.octets());
        }
        Some(IpAddr::V6(g)) => {
            w.bytes(DAEMON_ATTR_MCAST_GROUP6, &g.octets());
        }
        None => {}
    }
    if let Some(p) = d.port {
        w.u16(DAEMON_ATTR_MCAST_PORT, p);
    }
    if let Some(t) = d.ttl {
        w.u8(DAEMON_ATTR_MCAST_TTL, t);
    }
    w.end_nest(n);
}

/// DEL_DAEMON attributes.
pub fn daemon_state(w: &mut AttrWriter, state: DaemonState) {
    let n = w.begin_nest(CMD_ATTR_DAEMON);
    w.u32(DAEMON_ATTR_STATE, state.raw());
    w.end_nest(n);
}

/// The nested payload of top-level attribute `ty` in a reply.
fn nest<'a>(attrs: &'a [u8], ty: u16, what: &'static str) -> Result<&'a [u8], DecodeError> {
    for a in Attrs::new(attrs) {
        let (t, v) = a?;
        if t == ty {
            return Ok(v);
        }
    }
    Err(DecodeError::Missing { what, attr: ty })
}

/// A STATS or STATS64 nest (32-bit counters are widened; PAD is skipped).
pub fn parse_stats(v: &[u8]) -> Result<Stats, DecodeError> {
    let mut s = Stats::default();
    for a in Attrs::new(v) {
        let (t, v) = a?;
        if !(STATS_ATTR_CONNS..=STATS_ATTR_OUTBPS).contains(&t) {
            continue;
        }
        let n = match v.len() {
            4 => u64::from(get_u32(v, "stats", t)?),
            _ => get_u64(v, "stats", t)?,
        };
        let slot = match t {
            1 => &mut s.conns,
            2 => &mut s.inpkts,
            3 => &mut s.outpkts,
            4 => &mut s.inbytes,
            5 => &mut s.outbytes,
            6 => &mut s.cps,
            7 => &mut s.inpps,
            8 => &mut s.outpps,
            9 => &mut s.inbps,
            _ => &mut s.outbps,
        };
        *slot = n;
    }
    Ok(s)
}

/// A service from the attributes of a GET_SERVICE reply message.
pub fn parse_service(attrs: &[u8]) -> Result<Service, DecodeError> {
    const W: &str = "service";
    let v = nest(attrs, CMD_ATTR_SERVICE, W)?;
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut flags, mut timeout, mut netmask) = (None, 0u32, 0u32, None);
    let (mut pe, mut stats, mut stats64) = (None, None, None);
    for a in Attrs::new(v) {
        let (t, v) = a?;
        match t {
            SVC_ATTR_AF => af = Some(get_u16(v, W, t)?),
            SVC_ATTR_PROTOCOL => proto = Some(get_u16(v, W, t)?),
            SVC_ATTR_ADDR => addr = Some(v),
            SVC_ATTR_PORT => port = Some(get_be16(v, W, t)?),
            SVC_ATTR_FWMARK => fwmark = Some(get_u32(v, W, t)?),
            SVC_ATTR_SCHED_NAME => sched = Some(get_string(v)?),
            SVC_ATTR_FLAGS => {
                let b = v.get(..4).ok_or(DecodeError::BadLength {
                    what: W,
                    attr: t,
                    len: v.len(),
                    expected: 8,
                })?;
                flags = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) & !SVC_F_HASHED;
            }
            SVC_ATTR_TIMEOUT => timeout = get_u32(v, W, t)?,
            SVC_ATTR_NETMASK => netmask = Some(v),
            SVC_ATTR_PE_NAME => pe = Some(get_string(v)?),
            SVC_ATTR_STATS => stats = Some(parse_stats(v)?),
            SVC_ATTR_STATS64 => stats64 = Some(parse_stats(v)?),
            _ => {}
        }
    }
    let af = af.ok_or(DecodeError::Missing {
        what: W,
        attr: SVC_ATTR_AF,
    })?;
    let ipv6 = match af {
        AF_INET => false,
        AF_INET6 => true,
        other => return Err(DecodeError::Invalid(format!("service family {other}"))),
    };
    let key = match (fwmark, proto, addr, port) {
        (Some(fwmark), _, _, _) if fwmark != 0 => VirtualKey::Fwmark { fwmark, ipv6 },
        (_, Some(p), Some(a), Some(port)) => {
            let protocol = protocol_from_number(p)
                .ok_or_else(|| DecodeError::Invalid(format!("service protocol {p}")))?;
            let ip = parse_addr(a, af, W)?;
            VirtualKey::Addr {
                protocol,
                addr: SocketAddr::new(ip, port),
            }
        }
        _ => {
            return Err(DecodeError::Invalid(
                "service has neither fwmark nor protocol+address+port".into(),
            ));
        }
    };
    let netmask = match netmask {
        None if ipv6 => 128,
        None => u32::MAX,
        Some(v) if ipv6 => get_u32(v, W, SVC_ATTR_NETMASK)?,
        Some(v) => get_be32(v, W, SVC_ATTR_NETMASK)?,
    };
    Ok(Service {
        conf: ServiceConf {
            key,
            scheduler: sched.unwrap_or_default(),
            flags,
            timeout,
            netmask,
        },
        pe_name: pe.filter(|p| !p.is_empty()),
        stats: stats64.or(stats).unwrap_or_default(),
    })
}

fn get_be32(v: &[u8], what: &'static str, attr: u16) -> Result<u32, DecodeError> {
    get_u32(v, what, attr).map(u32::from_be)
}

/// A real server from the attributes of a GET_DEST reply message; `svc_af` slices the address
/// when the kernel sends no ADDR_FAMILY (before Linux 4.14).
pub fn parse_dest(attrs: &[u8], svc_af: u16) -> Result<Dest, DecodeError> {
    const W: &str = "real server";
    let v = nest(attrs, CMD_ATTR_DEST, W)?;
    let (mut addr, mut port, mut fwd, mut af) = (None, None, None, svc_af);
    let (mut weight, mut u, mut l) = (0u32, 0u32, 0u32);
    let (mut act, mut inact, mut pers) = (0u32, 0u32, 0u32);
    let mut tunnel = Tunnel::default();
    let (mut stats, mut stats64) = (None, None);
    for a in Attrs::new(v) {
        let (t, v) = a?;
        match t {
            DEST_ATTR_ADDR => addr = Some(v),
            DEST_ATTR_PORT => port = Some(get_be16(v, W, t)?),
            DEST_ATTR_FWD_METHOD => fwd = Some(get_u32(v, W, t)?),
            DEST_ATTR_WEIGHT => weight = get_u32(v, W, t)?,
            DEST_ATTR_U_THRESH => u = get_u32(v, W, t)?,
            DEST_ATTR_L_THRESH => l = get_u32(v, W, t)?,
            DEST_ATTR_ACTIVE_CONNS => act = get_u32(v, W, t)?,
            DEST_ATTR_INACT_CONNS => inact = get_u32(v, W, t)?,
            DEST_ATTR_PERSIST_CONNS => pers = get_u32(v, W, t)?,
            DEST_ATTR_ADDR_FAMILY => af = get_u16(v, W, t)?,
            DEST_ATTR_STATS => stats = Some(parse_stats(v)?),
            DEST_ATTR_STATS64 => stats64 = Some(parse_stats(v)?),
            DEST_ATTR_TUN_TYPE => {
                tunnel.kind = match get_u8(v, W, t)? {
                    1 => TunnelKind::Gue,
                    2 => TunnelKind::Gre,
                    _ => TunnelKind::Ipip,
                }
            }
            DEST_ATTR_TUN_PORT => tunnel.port = get_be16(v, W, t)?,
            DEST_ATTR_TUN_FLAGS => tunnel.flags = get_u16(v, W, t)?,
            _ => {}
        }
    }
    let missing = |attr| DecodeError::Missing { what: W, attr };
    let ip = parse_addr(addr.ok_or(missing(DEST_ATTR_ADDR))?, af, W)?;
    let port = port.ok_or(missing(DEST_ATTR_PORT))?;
    let raw = fwd.ok_or(missing(DEST_ATTR_FWD_METHOD))?;
    let forward = forward_from_raw(raw)
        .ok_or_else(|| DecodeError::Invalid(format!("forwarding method {raw}")))?;
    Ok(Dest {
        conf: DestConf {
            addr: SocketAddr::new(ip, port),
            forward,
            weight,
            u_threshold: u,
            l_threshold: l,
            tunnel,
        },
        active_conns: act,
        inactive_conns: inact,
        persist_conns: pers,
        stats: stats64.or(stats).unwrap_or_default(),
    })
}

/// A GET_INFO reply.
pub fn parse_info(attrs: &[u8]) -> Result<Info, DecodeError> {
    let (mut version, mut size) = (None, 0);
    for a in Attrs::new(attrs) {
        let (t, v) = a?;
        match t {
            INFO_ATTR_VERSION => version = Some(get_u32(v, "info", t)?),
            INFO_ATTR_CONN_TAB_SIZE => size = get_u32(v, "info", t)?,
            _ => {}
        }
    }
    Ok(Info {
        version: version.ok_or(DecodeError::Missing {
            what: "info",
            attr: INFO_ATTR_VERSION,
        })?,
        conn_tab_size: size,
    })
}

/// A GET_CONFIG reply.
pub fn parse_timeouts(attrs: &[u8]) -> Result<Timeouts, DecodeError> {
    let mut t = Timeouts::default();
    for a in Attrs::new(attrs) {
        let (ty, v) = a?;
        match ty {
            CMD_ATTR_TIMEOUT_TCP => t.tcp = get_u32(v, "timeouts", ty)?,
            CMD_ATTR_TIMEOUT_TCP_FIN => t.tcp_fin = get_u32(v, "timeouts", ty)?,
            CMD_ATTR_TIMEOUT_UDP => t.udp = get_u32(v, "timeouts", ty)?,
            _ => {}
        }
    }
    Ok(t)
}

/// One GET_DAEMON reply message.
pub fn parse_daemon(attrs: &[u8]) -> Result<Daemon, DecodeError> {
    const W: &str = "sync daemon";
    let v = nest(attrs, CMD_ATTR_DAEMON, W)?;
    let mut d = Daemon {
        state: DaemonState::Master,
        ifname: String::new(),
        sync_id: 0,
        maxlen: None,
        group: None,
        port: None,
        ttl: None,
    };
    for a in Attrs::new(v) {
        let (t, v) = a?;
        match t {
            DAEMON_ATTR_STATE => {
                d.state = match get_u32(v, W, t)? {
                    2 => DaemonState::Backup,
                    _ => DaemonState::Master,
                }
            }
            DAEMON_ATTR_MCAST_IFN => d.ifname = get_string(v)?,
            DAEMON_ATTR_SYNC_ID => d.sync_id = get_u32(v, W, t)?,
            DAEMON_ATTR_SYNC_MAXLEN => d.maxlen = Some(get_u16(v, W, t)?),
            DAEMON_ATTR_MCAST_GROUP => d.group = Some(parse_addr(v, AF_INET, W)?),
            DAEMON_ATTR_MCAST_GROUP6 => {
                let ip = parse_addr(v, AF_INET6, W)?;
                if !ip.is_unspecified() {
                    d.group = Some(ip);
                }
            }
            DAEMON_ATTR_MCAST_PORT => d.port = Some(get_u16(v, W, t)?),
            DAEMON_ATTR_MCAST_TTL => d.ttl = Some(get_u8(v, W, t)?),
            _ => {}
        }
    }
    Ok(d)
}
