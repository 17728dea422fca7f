//! The validated `[lvs]` table: virtual services, real servers, drain, capacity and the
//! connection sync daemon.

use std::net::SocketAddr;
use std::time::Duration;

use super::Check;
use crate::config::keywords::{LvsFlag, Scheduler};

#[derive(Debug, Clone, PartialEq)]
pub struct Lvs {
    pub site: Option<String>,
    pub resync: Duration,
    /// The kernel's connection synchronisation daemon(s), when configured.
    pub sync: Option<LvsSync>,
    pub services: Vec<LvsService>,
}

/// `sync = { role, interface, syncid }`: which sync daemons run, on which interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsSync {
    pub role: SyncRole,
    /// The interface the multicast sync traffic uses (at most 15 bytes).
    pub interface: String,
    /// Only messages with this id are taken (0..=255).
    pub syncid: u32,
    /// Multicast group (default 224.0.0.81) and UDP port (default 8848).
    pub group: Option<std::net::IpAddr>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub maxlen: Option<u16>,
}

/// Which sync daemons this director runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRole {
    /// Sends its connections.
    Master,
    /// Receives the others' connections.
    Backup,
    /// Both (active-active, or either node may take the VIP).
    Both,
}

impl SyncRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
            SyncRole::Both => "both",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Forward {
    Dr,
    Nat,
    Tun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VirtualKey {
    Addr {
        protocol: Protocol,
        addr: SocketAddr,
    },
    Fwmark {
        fwmark: u32,
        ipv6: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    Weight0,
    Remove,
    /// Drain: weight 0, then removed when its connections end or at `drain_deadline`.
    Drain,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LvsService {
    pub key: VirtualKey,
    pub scheduler: Scheduler,
    pub forward: Forward,
    /// Persistence timeout; None = not persistent.
    pub persistence: Option<Duration>,
    /// Persistence netmask (IPv4 dotted mask, or IPv6 prefix length as a mask).
    pub netmask: Option<u32>,
    /// Extra service flags; `sh-*`/`mh-*` only with their scheduler, each at most once.
    pub flags: Vec<LvsFlag>,
    pub on_failure: OnFailure,
    /// A draining real server is removed at the latest this long after its drain began
    /// (None: only when its connections end).
    pub drain_deadline: Option<Duration>,
    /// Active connections this VIP is sized for (its load is active connections over this).
    pub capacity: Option<u64>,
    /// Capacity-aware spill: DNS stops sending new clients to this VIP while its load is at
    /// or above `at` per cent of `capacity`, until it falls below `resume` per cent.
    pub spill: Option<SpillAt>,
    pub sorry_server: Option<SocketAddr>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub check: Option<Check>,
    pub reals: Vec<Real>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Real {
    pub addr: SocketAddr,
    pub weight: u32,
    pub forward: Option<Forward>,
    pub u_threshold: u32,
    pub l_threshold: u32,
    /// Drained by configuration: weight 0, removed when its connections end.
    pub drain: bool,
}

/// `spill_at`/`spill_resume` of a virtual service, in per cent of its `capacity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpillAt {
    pub at: u32,
    pub resume: u32,
}
