//! Raw policy-file structures exactly as they appear in TOML.
//!
//! Every table denies unknown fields, and every value that validation may reject later is
//! wrapped in [`Spanned`] so the error can name its line. Nothing outside `config` sees these.

mod anycast;

pub use anycast::{AnycastPrefixSpec, AnycastSpec, DemoteSpec};

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A string or a list of strings (`zones = "zones"` or `zones = ["a.zone", "b.zone"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub server: Option<ServerSpec>,
    pub geo: Option<GeoSpec>,
    #[serde(default)]
    pub isp: BTreeMap<Spanned<String>, IspSpec>,
    #[serde(default)]
    pub site: BTreeMap<Spanned<String>, SiteSpec>,
    #[serde(default)]
    pub service: BTreeMap<Spanned<String>, ServiceSpec>,
    pub health: Option<HealthSpec>,
    #[serde(default)]
    pub r#override: Vec<OverrideSpec>,
    pub lvs: Option<LvsSpec>,
    pub cluster: Option<ClusterSpec>,
    pub anycast: Option<AnycastSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub listen: Option<Spanned<Vec<Spanned<String>>>>,
    pub zones: Option<Spanned<OneOrMany>>,
    pub max_udp_payload: Option<Spanned<i64>>,
    pub udp_threads: Option<Spanned<i64>>,
    /// Bytes of kernel receive buffer per UDP socket.
    pub udp_receive_buffer: Option<Spanned<i64>>,
    pub admin: Option<Spanned<String>>,
    pub admin_token_file: Option<Spanned<String>>,
    /// `open` or `token`: who may read `/status` and `/metrics`.
    pub admin_read: Option<Spanned<String>>,
    /// Refused with a pointer to the admin endpoint, which serves `/metrics`. Any TOML value,
    /// so that `metrics = true` gets that message rather than a type error.
    pub metrics: Option<Spanned<toml::Value>>,
    pub query_log: Option<bool>,
    pub tcp_max_connections: Option<Spanned<i64>>,
    pub tcp_max_per_prefix: Option<Spanned<i64>>,
    pub tcp_idle_timeout: Option<Spanned<String>>,
    pub tcp_io_timeout: Option<Spanned<String>>,
    pub admin_max_connections: Option<Spanned<i64>>,
    pub admin_max_per_prefix: Option<Spanned<i64>>,
    pub admin_timeout: Option<Spanned<String>>,
    pub client_prefix_v4: Option<Spanned<i64>>,
    pub client_prefix_v6: Option<Spanned<i64>>,
    pub include_outside_zone_dir: Option<bool>,
    pub max_zone_file_bytes: Option<Spanned<i64>>,
    pub rrl: Option<Spanned<RrlSpec>>,
    pub cookie_secret_file: Option<Spanned<String>>,
    pub identity: Option<Spanned<String>>,
    pub nsid: Option<Spanned<bool>>,
    pub chaos_id: Option<Spanned<bool>>,
    /// The account to become after binding, when started as root.
    pub user: Option<Spanned<String>>,
    /// Its group (default: the user's primary group).
    pub group: Option<Spanned<String>>,
}

/// `rrl = { rate = 1000, slip = 2, window = "1s", exempt = ["127.0.0.0/8", "::1"] }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrlSpec {
    pub rate: Option<Spanned<i64>>,
    pub slip: Option<Spanned<i64>>,
    pub window: Option<Spanned<String>>,
    pub exempt: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoSpec {
    pub city: Option<Spanned<String>>,
    pub asn: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IspSpec {
    #[serde(default)]
    pub asn: Vec<Spanned<i64>>,
    #[serde(default)]
    pub cidr_files: Vec<Spanned<String>>,
    #[serde(default)]
    pub cidrs: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSpec {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    pub location: Option<Spanned<LocationSpec>>,
    pub capacity: Option<Spanned<i64>>,
    #[serde(default)]
    pub links: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
}

/// `fallback = "all" | "none" | ["192.0.2.99", ...]`
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FallbackSpec {
    Keyword(String),
    Addrs(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: Spanned<String>,
    pub ttl: Option<Spanned<i64>>,
    pub ttl_degraded: Option<Spanned<i64>>,
    pub sites: Spanned<Vec<Spanned<String>>>,
    pub mode: Option<Spanned<String>>,
    #[serde(default)]
    pub weights: BTreeMap<Spanned<String>, Spanned<i64>>,
    pub spill: Option<Spanned<String>>,
    pub link_fallback: Option<Spanned<String>>,
    pub fallback: Option<Spanned<FallbackSpec>>,
    pub check: Option<Spanned<CheckSpec>>,
    #[serde(default)]
    pub route: Vec<RouteSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub r#match: Spanned<MatchSpec>,
    pub sites: Spanned<Vec<Spanned<String>>>,
    pub mode: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    #[serde(default)]
    pub continent: Vec<Spanned<String>>,
    #[serde(default)]
    pub country: Vec<Spanned<String>>,
    #[serde(default)]
    pub subdivision: Vec<Spanned<String>>,
    #[serde(default)]
    pub asn: Vec<Spanned<i64>>,
    #[serde(default)]
    pub isp: Vec<Spanned<String>>,
    #[serde(default)]
    pub cidr: Vec<Spanned<String>>,
}

/// One health check, shared by `[service.*]` and `[lvs.service]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub r#type: Spanned<String>,
    pub port: Option<Spanned<i64>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub rise: Option<Spanned<i64>>,
    pub fall: Option<Spanned<i64>>,
    pub start: Option<Spanned<String>>,
    /// http/https
    pub path: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub expect: Option<Spanned<ExpectSpec>>,
    pub body: Option<Spanned<String>>,
    /// https only
    pub tls_verify: Option<Spanned<bool>>,
    /// dns
    pub query: Option<Spanned<String>>,
    pub qtype: Option<Spanned<String>>,
    pub rcode: Option<Spanned<String>>,
    /// dns: presentation form of one expected answer record's data, e.g. "192.0.2.1"
    pub answer: Option<Spanned<String>>,
    /// exec
    pub command: Option<Spanned<Vec<String>>>,
}

/// `expect = 200` or `expect = [200, 204]`
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ExpectSpec {
    One(i64),
    Many(Vec<i64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    pub state_file: Option<Spanned<String>>,
}

/// `[[override]] target = "site:hq" | "link:hq/telecom" | "addr:203.0.113.10", state = "down"`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideSpec {
    pub target: Spanned<String>,
    pub state: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvsSpec {
    pub site: Option<Spanned<String>>,
    pub resync: Option<Spanned<String>>,
    pub sync: Option<Spanned<LvsSyncSpec>>,
    #[serde(default)]
    pub service: Vec<LvsServiceSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvsServiceSpec {
    pub vip: Option<Spanned<String>>,
    pub fwmark: Option<Spanned<i64>>,
    pub family: Option<Spanned<String>>,
    pub protocol: Option<Spanned<String>>,
    pub scheduler: Option<Spanned<String>>,
    pub forward: Option<Spanned<String>>,
    pub persistence: Option<Spanned<String>>,
    pub netmask: Option<Spanned<String>>,
    #[serde(default)]
    pub flags: Vec<Spanned<String>>,
    pub on_failure: Option<Spanned<String>>,
    pub drain_deadline: Option<Spanned<String>>,
    pub capacity: Option<Spanned<i64>>,
    pub spill_at: Option<Spanned<i64>>,
    pub spill_resume: Option<Spanned<i64>>,
    pub sorry_server: Option<Spanned<String>>,
    pub quorum: Option<Spanned<i64>>,
    pub hysteresis: Option<Spanned<i64>>,
    pub check: Option<Spanned<CheckSpec>>,
    #[serde(default)]
    pub real: Vec<RealSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealSpec {
    pub addr: Spanned<String>,
    pub weight: Option<Spanned<i64>>,
    pub forward: Option<Spanned<String>>,
    pub u_threshold: Option<Spanned<i64>>,
    pub l_threshold: Option<Spanned<i64>>,
    pub drain: Option<Spanned<bool>>,
}

/// `[lvs] sync = { role = "master" | "backup" | "both", interface = "eth1", syncid = 1 }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvsSyncSpec {
    pub role: Spanned<String>,
    pub interface: Spanned<String>,
    pub syncid: Option<Spanned<i64>>,
    pub group: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub ttl: Option<Spanned<i64>>,
    pub maxlen: Option<Spanned<i64>>,
}

/// `[cluster]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub node: Spanned<String>,
    pub listen: Spanned<String>,
    #[serde(default)]
    pub seeds: Vec<Spanned<String>>,
    pub key_file: Spanned<String>,
    pub vantage: Option<VantageSpec>,
    pub gossip_interval: Option<Spanned<String>>,
}

/// `vantage = { quorum = "majority", stale_after = "15s" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VantageSpec {
    pub quorum: Option<Spanned<QuorumSpec>>,
    pub stale_after: Option<Spanned<String>>,
}

/// `"majority" | "all" | "any" | N`
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum QuorumSpec {
    Keyword(String),
    Count(i64),
}
