//! Typed limits of the `[server]` table: connection caps and timeouts of the TCP listeners
//! and the admin endpoint, and the rules for reading zone files. Defaults and reasons are in
//! docs/reliability.md.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Connection caps of one kind of listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once, from every client.
    pub max_connections: usize,
    /// Connections open at once from one client prefix.
    pub max_per_prefix: usize,
    /// Length of the client prefix for IPv4 clients (`client_prefix_v4`).
    pub prefix_v4: u8,
    /// Length of the client prefix for IPv6 clients (`client_prefix_v6`).
    pub prefix_v6: u8,
}

/// DNS over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSettings {
    pub limits: ConnLimits,
    /// Closed when no query starts for this long (`tcp_idle_timeout`).
    pub idle_timeout: Duration,
    /// Closed when the rest of a started query, or the sending of an answer, takes longer
    /// (`tcp_io_timeout`): a client that sends queries and never reads is dropped.
    pub io_timeout: Duration,
}

impl Default for TcpSettings {
    fn default() -> Self {
        TcpSettings {
            limits: ConnLimits {
                max_connections: 512,
                max_per_prefix: 64,
                prefix_v4: 24,
                prefix_v6: 56,
            },
            idle_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(5),
        }
    }
}

/// The admin endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSettings {
    pub limits: ConnLimits,
    /// The whole exchange (request read, answer written) must fit in this (`admin_timeout`).
    pub timeout: Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            limits: ConnLimits {
                max_connections: 64,
                max_per_prefix: 16,
                prefix_v4: 24,
                prefix_v6: 56,
            },
            timeout: Duration::from_secs(5),
        }
    }
}

/// Response rate limiting of UDP answers (`[server] rrl`, see `dns::rrl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrlSettings {
    /// Responses a second per client prefix and response class; 0 turns limiting off.
    pub rate: u32,
    /// Every `slip`-th limited response goes out truncated; 0 drops them all.
    pub slip: u32,
    /// Depth of a bucket: a quiet prefix may get `rate × window` responses at once.
    pub window: Duration,
    /// The client prefix (`client_prefix_v4` / `client_prefix_v6`).
    pub prefix_v4: u8,
    pub prefix_v6: u8,
    /// Sources never limited (`exempt`): by default loopback, which no remote host can spoof,
    /// so a resolver or proxy on the same host and local monitoring are not limited.
    pub exempt: Arc<[IpNet]>,
}

impl RrlSettings {
    /// At most this many `exempt` prefixes (each limited answer scans them).
    pub const MAX_EXEMPT: usize = 64;

    /// No limiting (servers built without a policy file, as the tests make them).
    pub fn off() -> RrlSettings {
        RrlSettings {
            rate: 0,
            ..RrlSettings::default()
        }
    }

    /// True when answers to `ip` are never limited.
    #[inline]
    pub fn exempts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.exempt.iter().any(|n| n.contains(&ip))
    }
}

impl Default for RrlSettings {
    /// The policy file's default: on, 1000 a second per /24 (/56) and class, slip 2, a
    /// one-second bucket, loopback exempt (docs/reliability.md says why).
    fn default() -> Self {
        RrlSettings {
            rate: 1000,
            slip: 2,
            window: Duration::from_secs(1),
            prefix_v4: 24,
            prefix_v6: 56,
            exempt: Arc::from(vec![
                IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
                IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
            ]),
        }
    }
}

/// How zone files and their `$INCLUDE`s are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneFileRules {
    /// `$INCLUDE` may name a file outside the folder of the zone file
    /// (`include_outside_zone_dir`, default false).
    pub include_outside_zone_dir: bool,
    /// Largest zone file, and largest included file (`max_zone_file_bytes`).
    pub max_bytes: u64,
}

impl Default for ZoneFileRules {
    fn default() -> Self {
        ZoneFileRules {
            include_outside_zone_dir: false,
            max_bytes: crate::files::limit::ZONE_DEFAULT,
        }
    }
}
