//! Raw `[anycast]` structures as they appear in TOML (validated in `validate::anycast`).

use serde::Deserialize;
use toml::Spanned;

/// `[anycast]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnycastSpec {
    pub backend: Spanned<String>,
    pub bird_socket: Option<Spanned<String>>,
    /// backend = "exabgp": how long Meridian may stay silent before its relay withdraws.
    pub exabgp_watchdog: Option<Spanned<String>>,
    /// No announcement before this long after the start.
    pub grace: Option<Spanned<String>>,
    /// After SIGTERM: withdraw (or demote), keep answering this long, then stop.
    pub drain: Option<Spanned<String>>,
    /// Applies to every prefix.
    pub disable_file: Option<Spanned<String>>,
    /// Fate-sharing: answer BFD sessions (RFC 5880, single hop) on this address.
    pub bfd_listen: Option<Spanned<String>>,
    /// BFD timers this node asks for (desired min TX / required min RX).
    pub bfd_interval: Option<Spanned<String>>,
    pub bfd_multiplier: Option<Spanned<i64>>,
    #[serde(default)]
    pub prefix: Vec<AnycastPrefixSpec>,
}

/// `[[anycast.prefix]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnycastPrefixSpec {
    pub prefix: Spanned<String>,
    pub bird_protocol: Option<Spanned<String>>,
    #[serde(default)]
    pub when: Vec<Spanned<String>>,
    pub rise: Option<Spanned<i64>>,
    pub fall: Option<Spanned<i64>>,
    pub interval: Option<Spanned<String>>,
    pub demote: Option<Spanned<DemoteSpec>>,
    pub disable_file: Option<Spanned<String>>,
    /// ExaBGP: the next hop of the announcement (default `self`).
    pub next_hop: Option<Spanned<String>>,
}

/// `demote = { med = 200 }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoteSpec {
    pub med: Option<Spanned<i64>>,
    #[serde(default)]
    pub as_path_prepend: Vec<Spanned<i64>>,
    #[serde(default)]
    pub community: Vec<Spanned<String>>,
    /// BIRD: the operator's second static protocol that carries the worse attributes.
    pub bird_protocol: Option<Spanned<String>>,
}
