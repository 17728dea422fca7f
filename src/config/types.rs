//! Validated, typed configuration: what the rest of Meridian sees.
//!
//! Values here are already checked (addresses parse, names exist, thresholds are in range),
//! so runtime code never handles TOML or re-validates.

mod anycast;

pub use anycast::{
    Anycast, AnycastBackend, AnycastPrefix, BfdListen, Condition as AnycastCondition, Demote,
};

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::keywords::{HttpMethod, QType, Rcode};

mod lvs;
pub use lvs::*;

/// The whole policy file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this came from (for messages and reloads).
    pub source: PathBuf,
    pub server: Server,
    pub geo: Geo,
    pub isps: BTreeMap<String, Isp>,
    pub sites: BTreeMap<String, Site>,
    pub services: BTreeMap<String, Service>,
    pub health: HealthSettings,
    pub overrides: Vec<Override>,
    pub lvs: Option<Lvs>,
    pub cluster: Option<Cluster>,
    pub anycast: Option<Anycast>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub listen: Vec<SocketAddr>,
    /// Zone files, resolved against the config file's folder.
    pub zone_files: Vec<PathBuf>,
    pub max_udp_payload: u16,
    /// UDP worker threads per listen address (0 = one per core).
    pub udp_threads: usize,
    /// Kernel receive buffer asked for each UDP socket, in bytes (None: the default, 4 MiB,
    /// without a warning when the kernel gives less).
    pub udp_receive_buffer: Option<usize>,
    /// Admin HTTP endpoint (status page, metrics, overrides), loopback only.
    pub admin: Option<SocketAddr>,
    /// File holding the admin API's bearer token (created with a random token if missing).
    pub admin_token_file: PathBuf,
    /// Who may read `/status` and `/metrics`: anyone on loopback, or token holders.
    pub admin_read: super::AdminRead,
    /// Log one line per query.
    pub query_log: bool,
    /// DNS over TCP: connection caps and timeouts.
    pub tcp: super::TcpSettings,
    /// Admin endpoint: connection caps and its deadline.
    pub admin_conn: super::AdminSettings,
    /// `$INCLUDE` confinement and the zone file size limit.
    pub zone_rules: super::ZoneFileRules,
    /// UDP response rate limiting.
    pub rrl: super::RrlSettings,
    /// The DNS Cookies secret read from `cookie_secret_file` (None: a random one per process).
    pub cookie_secret: Option<crate::dns::cookie::CookieSecret>,
    /// The node's name in NSID options and CH TXT answers, and which of them are on.
    pub identity: IdentitySettings,
    /// `user` and `group`: the account to become once every socket is bound (root only).
    pub run_as: Option<crate::privilege::RunAs>,
}

/// `[server] identity`, `nsid`, `chaos_id` (both answers off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentitySettings {
    /// 1..=64 printable ASCII bytes; empty when neither answer is on.
    pub name: String,
    /// Answer the EDNS NSID option (RFC 5001).
    pub nsid: bool,
    /// Answer CH TXT `id.server.` and `hostname.bind.`.
    pub chaos: bool,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5353))],
            zone_files: Vec::new(),
            max_udp_payload: 1232,
            udp_threads: 0,
            udp_receive_buffer: None,
            admin: None,
            admin_token_file: PathBuf::from("meridian-admin.token"),
            admin_read: super::AdminRead::Open,
            query_log: false,
            tcp: super::TcpSettings::default(),
            admin_conn: super::AdminSettings::default(),
            zone_rules: super::ZoneFileRules::default(),
            rrl: super::RrlSettings::default(),
            cookie_secret: None,
            identity: IdentitySettings::default(),
            run_as: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geo {
    pub city: Option<PathBuf>,
    pub asn: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Isp {
    pub asns: Vec<u32>,
    /// Inline CIDRs and the contents of `cidr_files`, already read.
    pub cidrs: Vec<IpNet>,
    pub cidr_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub location: Option<Location>,
    /// Link name (an ISP name or `default`) -> addresses.
    pub links: BTreeMap<String, Vec<IpAddr>>,
    /// The link names in the order the file lists them (`link_fallback = "any"` tries the
    /// other links in this order).
    pub link_order: Vec<String>,
    /// Share of the clients this site takes when `spill = "capacity"` spreads a failed
    /// first site's clients (1 when not given).
    pub capacity: u32,
}

/// Where a value was written in the policy file (1-based), for checks made after
/// validation (e.g. against the zones) that must still name the line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Failover,
    All,
    Weighted,
    Nearest,
}

/// Where the clients of an unusable first site go (`failover` and `nearest`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Spill {
    /// All to the next usable site of the list.
    #[default]
    Next,
    /// Spread over the other usable sites of the list in proportion to their `capacity`.
    Capacity,
}

/// Which links of a site a client may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkFallback {
    /// The link named after the client's ISP, then the site's `default` link.
    #[default]
    Default,
    /// As `Default`, then the site's other links in configuration order.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    All,
    None,
    Addrs(Vec<IpAddr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// Lower-case, absolute (trailing dot) owner name.
    pub fqdn: String,
    /// Where `name` is written (a zone-cut check after loading the zones names it).
    pub name_pos: Pos,
    pub ttl: u32,
    /// TTL of every answer that is not the healthy first choice (default min(ttl, 10)).
    pub ttl_degraded: u32,
    pub sites: Vec<String>,
    pub mode: Mode,
    pub weights: BTreeMap<String, u32>,
    pub spill: Spill,
    pub link_fallback: LinkFallback,
    pub fallback: Fallback,
    pub check: Option<Check>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    pub continents: Vec<String>,
    pub countries: Vec<String>,
    pub subdivisions: Vec<String>,
    pub asns: Vec<u32>,
    pub isps: Vec<String>,
    pub cidrs: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub matcher: Match,
    pub sites: Vec<String>,
    /// Overrides the service's mode for clients matching this route.
    pub mode: Option<Mode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckKind {
    Tcp,
    Http {
        https: bool,
        method: HttpMethod,
        path: String,
        host: Option<String>,
        expect: Vec<u16>,
        body: Option<String>,
        tls_verify: bool,
    },
    Dns {
        query: String,
        qtype: QType,
        rcode: Rcode,
        /// When set, one answer record's data (presentation form, e.g. `192.0.2.1`) must equal it.
        answer: Option<String>,
    },
    Exec {
        command: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StartState {
    Up,
    Down,
}

/// One health check definition; the target address comes from where it is used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Check {
    pub kind: CheckKind,
    /// None = the target's own port (LVS real servers) or the kind's default.
    pub port: Option<u16>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub start: StartState,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthSettings {
    pub state_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OverrideTarget {
    Site(String),
    Link { site: String, link: String },
    Addr(IpAddr),
}

impl std::fmt::Display for OverrideTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverrideTarget::Site(s) => write!(f, "site:{s}"),
            OverrideTarget::Link { site, link } => write!(f, "link:{site}/{link}"),
            OverrideTarget::Addr(a) => write!(f, "addr:{a}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverrideState {
    Up,
    Down,
    Drain,
}

impl OverrideState {
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideState::Up => "up",
            OverrideState::Down => "down",
            OverrideState::Drain => "drain",
        }
    }

    pub fn parse(s: &str) -> Option<OverrideState> {
        match s {
            "up" => Some(OverrideState::Up),
            "down" => Some(OverrideState::Down),
            "drain" => Some(OverrideState::Drain),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub target: OverrideTarget,
    pub state: OverrideState,
}

/// `[cluster]`: this node's membership in a gossip cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Unique node name.
    pub node: String,
    /// Gossip address (UDP).
    pub listen: SocketAddr,
    /// Known peers to join through; the rest are learned.
    pub seeds: Vec<SocketAddr>,
    /// The shared key (checked when the configuration is loaded).
    pub key_file: PathBuf,
    pub vantage: Vantage,
    pub gossip_interval: Duration,
}

impl Cluster {
    /// `gossip_interval` when the file does not say.
    pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_millis(250);
}

/// How observations from several nodes combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vantage {
    pub quorum: Quorum,
    /// An observation not refreshed for this long counts as unknown.
    pub stale_after: Duration,
}

impl Default for Vantage {
    fn default() -> Self {
        Vantage {
            quorum: Quorum::Majority,
            stale_after: Duration::from_secs(15),
        }
    }
}

/// How many fresh observers must see a target down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    /// More than half.
    Majority,
    All,
    /// One.
    Any,
    /// At least N (all of them when fewer than N are fresh).
    AtLeast(u32),
}

impl std::fmt::Display for Quorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quorum::Majority => f.write_str("majority"),
            Quorum::All => f.write_str("all"),
            Quorum::Any => f.write_str("any"),
            Quorum::AtLeast(n) => write!(f, "{n}"),
        }
    }
}
