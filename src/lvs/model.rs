//! The IPVS objects as Meridian sees them: what it sends (`ServiceConf`, `DestConf`) and what a
//! dump returns (`Service`, `Dest` with counters and statistics), plus info, timeouts and sync
//! daemons. Identities reuse the config's [`VirtualKey`]; dest identity is its `SocketAddr`.

use std::net::{IpAddr, SocketAddr};

use crate::config::{Forward, LvsFlag, Protocol, VirtualKey};

use super::codec::consts::*;

/// The settings of a virtual service that Meridian owns and compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConf {
    pub key: VirtualKey,
    pub scheduler: String,
    /// `IP_VS_SVC_F_*` bits, never `HASHED`.
    pub flags: u32,
    /// Persistence timeout in seconds (0 when not persistent).
    pub timeout: u32,
    /// IPv4: the mask as a host-order u32 (`0xffffff00` for /24); IPv6: a prefix length.
    pub netmask: u32,
}

/// Tunnel encapsulation of a TUN real server (Linux 5.2+).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    #[default]
    Ipip,
    Gue,
    Gre,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// GUE destination port.
    pub port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*`: 0 none, 1 checksum, 2 remote checksum offload.
    pub flags: u16,
}

/// The settings of a real server that Meridian owns and compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestConf {
    pub addr: SocketAddr,
    pub forward: Forward,
    pub weight: u32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tunnel: Tunnel,
}

/// Service or real-server statistics (the kernel's 64-bit set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

/// A virtual service as dumped by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub conf: ServiceConf,
    pub pe_name: Option<String>,
    pub stats: Stats,
}

/// A real server as dumped by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub conf: DestConf,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persist_conns: u32,
    pub stats: Stats,
}

/// The kernel's whole table: every service with its real servers, in dump order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub services: Vec<(Service, Vec<Dest>)>,
}

/// `IPVS_CMD_GET_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub version: u32,
    pub conn_tab_size: u32,
}

impl Info {
    /// `1.2.1` for `0x010201`.
    pub fn version_string(&self) -> String {
        let v = self.version;
        format!("{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
    }
}

/// Connection timeouts in seconds. In a SET request 0 means "leave unchanged".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonState {
    Master,
    Backup,
}

impl DaemonState {
    pub fn raw(self) -> u32 {
        match self {
            DaemonState::Master => 1,
            DaemonState::Backup => 2,
        }
    }
}

/// A connection synchronisation daemon (`ipvsadm --start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    pub state: DaemonState,
    pub ifname: String,
    pub sync_id: u32,
    pub maxlen: Option<u16>,
    pub group: Option<IpAddr>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
}

/// Address family of a service key.
pub fn key_af(key: &VirtualKey) -> u16 {
    match key {
        VirtualKey::Addr { addr, .. } => af_of(addr.ip()),
        VirtualKey::Fwmark { ipv6, .. } => {
            if *ipv6 {
                AF_INET6
            } else {
                AF_INET
            }
        }
    }
}

pub fn af_of(ip: IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

pub fn protocol_number(p: Protocol) -> u16 {
    match p {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

pub fn protocol_from_number(n: u16) -> Option<Protocol> {
    match n {
        IPPROTO_TCP => Some(Protocol::Tcp),
        IPPROTO_UDP => Some(Protocol::Udp),
        IPPROTO_SCTP => Some(Protocol::Sctp),
        _ => None,
    }
}

pub fn forward_raw(f: Forward) -> u32 {
    match f {
        Forward::Nat => CONN_F_MASQ,
        Forward::Tun => CONN_F_TUNNEL,
        Forward::Dr => CONN_F_DROUTE,
    }
}

/// `LOCALNODE` (reported by old kernels for a local real server) reads as direct routing.
pub fn forward_from_raw(raw: u32) -> Option<Forward> {
    match raw & CONN_F_FWD_MASK {
        CONN_F_MASQ => Some(Forward::Nat),
        CONN_F_TUNNEL => Some(Forward::Tun),
        CONN_F_DROUTE | CONN_F_LOCALNODE => Some(Forward::Dr),
        _ => None,
    }
}

/// The service-flag bit of a config flag (`sh-*` and `mh-*` share the scheduler bits).
pub fn flag_bit(flag: LvsFlag) -> u32 {
    match flag {
        LvsFlag::OnePacket => SVC_F_ONEPACKET,
        LvsFlag::ShFallback | LvsFlag::MhFallback => SVC_F_SCHED1,
        LvsFlag::ShPort | LvsFlag::MhPort => SVC_F_SCHED2,
    }
}

/// Flag names for display, like ipvsadm (scheduler-specific bits named after the scheduler).
pub fn flag_names(flags: u32, scheduler: &str) -> Vec<String> {
    let mut out = Vec::new();
    let prefix = if scheduler == "mh" { "mh" } else { "sh" };
    if flags & SVC_F_SCHED1 != 0 {
        if matches!(scheduler, "sh" | "mh") {
            out.push(format!("{prefix}-fallback"));
        } else {
            out.push("flag-1".to_owned());
        }
    }
    if flags & SVC_F_SCHED2 != 0 {
        if matches!(scheduler, "sh" | "mh") {
            out.push(format!("{prefix}-port"));
        } else {
            out.push("flag-2".to_owned());
        }
    }
    if flags & SVC_F_SCHED3 != 0 {
        out.push("flag-3".to_owned());
    }
    out
}
