//! Authoritative DNS: wire parsing and encoding, zone files, the compiled zone tree, the
//! answer core, and the UDP and TCP servers that carry it.
//!
//! ```text
//! udp (recvmmsg/sendmmsg threads) --+
//!                                   +--> answer::answer(snapshot, bytes, client, transport, out)
//! tcp (tokio, 2-byte framing) ------+        |  wire::parse_query  (in place, no allocation)
//!                                            |  zone::ZoneSet / Zone::lookup
//!                                            |  service::resolve   (names bound to a service)
//!                                            v  encode::Writer     (compression, truncation)
//! ```

pub mod answer;
pub mod cookie;
pub mod encode;
pub mod identity;
pub mod name;
pub mod observe;
pub mod pktinfo;
pub mod rrl;
pub mod server;
pub mod service;
pub mod siphash;
pub mod supervise;
pub mod tcp;
pub mod udp;
pub mod wire;
pub mod zone;
pub mod zonefile;

pub use answer::{Kind, Outcome, Transport, answer};
pub use server::DnsServer;
pub use zone::{LoadError, ZoneSet, load_zones, load_zones_with};

/// Errors starting the DNS servers.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("DNS servers must be started inside a tokio runtime")]
    NoRuntime,
    #[error("cannot start a UDP thread: {0}")]
    Thread(std::io::Error),
}
