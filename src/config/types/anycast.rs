//! The validated `[anycast]` table: which prefixes this node may announce, and when.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// `[anycast]`
#[derive(Debug, Clone, PartialEq)]
pub struct Anycast {
    pub backend: AnycastBackend,
    pub grace: Duration,
    pub drain: Duration,
    /// Present: every prefix is withdrawn.
    pub disable_file: Option<PathBuf>,
    pub bfd: Option<BfdListen>,
    pub prefixes: Vec<AnycastPrefix>,
}

impl Anycast {
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
    pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);
}

/// The BGP speaker that carries the routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnycastBackend {
    /// BIRD 2's control socket.
    Bird { socket: PathBuf },
    /// Meridian runs as an ExaBGP process: announce/withdraw lines on standard output,
    /// written by a relay child that withdraws when Meridian is silent for `watchdog`.
    Exabgp { watchdog: Duration },
}

impl AnycastBackend {
    pub const DEFAULT_EXABGP_WATCHDOG: Duration = Duration::from_secs(1);
}

/// The fate-sharing BFD responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdListen {
    pub addr: IpAddr,
    pub interval: Duration,
    pub multiplier: u8,
}

/// One `[[anycast.prefix]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnycastPrefix {
    pub prefix: IpNet,
    /// BIRD: the operator's static protocol for this prefix.
    pub bird_protocol: Option<String>,
    /// Every condition must hold.
    pub when: Vec<Condition>,
    pub rise: u32,
    pub fall: u32,
    pub interval: Duration,
    pub demote: Option<Demote>,
    pub disable_file: Option<PathBuf>,
    /// ExaBGP: `self` or an address.
    pub next_hop: String,
}

/// What a prefix's announcement depends on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    /// This node answers DNS on its listen addresses (checked with a real query).
    Dns,
    /// The local director's quorum for the VIP(s) on this address.
    Vip(IpAddr),
    /// At least one address of the site serves.
    Site(String),
    /// Every DNS target on this address serves.
    Addr(IpAddr),
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::Dns => f.write_str("dns"),
            Condition::Vip(ip) => write!(f, "vip:{ip}"),
            Condition::Site(s) => write!(f, "site:{s}"),
            Condition::Addr(ip) => write!(f, "addr:{ip}"),
        }
    }
}

/// The worse announcement made before a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Demote {
    pub med: Option<u32>,
    pub as_path_prepend: Vec<u32>,
    pub community: Vec<String>,
    /// BIRD: the static protocol carrying the demoted route.
    pub bird_protocol: Option<String>,
}
