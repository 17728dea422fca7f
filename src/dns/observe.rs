//! Counting every answered query into the metrics, and the optional per-query log line.
//! Both shells (UDP and TCP) call [`record`] once per query.

use std::net::SocketAddr;

use super::answer::{Limited, Outcome, Transport};
use crate::metrics::{DNS, METRICS, TCP, UDP, inc};

/// Count one query; log it when `[server] query_log` is on. `sent` = a response went out.
#[inline]
pub fn record(
    outcome: &Outcome,
    transport: Transport,
    client: SocketAddr,
    query: &[u8],
    sent: bool,
    log: bool,
) {
    let via = match transport {
        Transport::Udp => UDP,
        Transport::Tcp => TCP,
    };
    if outcome.ecs {
        inc(&METRICS.ecs_queries);
    }
    match outcome.limited {
        Limited::No => {}
        Limited::Slipped => {
            inc(&METRICS.rrl_limited);
            inc(&METRICS.rrl_slipped);
        }
        Limited::Dropped => {
            inc(&METRICS.rrl_limited);
            DNS.query(via, outcome.qtype, None);
            return;
        }
    }
    if !sent {
        inc(&METRICS.dropped);
        DNS.query(via, outcome.qtype, None);
        return;
    }
    DNS.query(via, outcome.qtype, Some(outcome.rcode));
    if outcome.truncated {
        inc(&METRICS.truncated);
    }
    if log {
        let (name, qtype) = match super::wire::parse_query(query) {
            Ok(q) => (super::name::to_text(q.qname), q.qtype),
            Err(_) => ("<unparsed>".to_string(), 0),
        };
        tracing::info!(client = %client.ip(), ?transport, name, qtype, rcode = outcome.rcode, kind = ?outcome.kind, tc = outcome.truncated, "query");
    }
}
