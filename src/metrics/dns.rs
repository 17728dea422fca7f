//! The query path's labelled metrics: queries by transport and query type, responses by
//! transport, query type and RCODE, and the answer latency by transport.
//!
//! The label sets are fixed (2 transports x 16 query types x 18 RCODEs), so each series is
//! an atomic in a static array found by index: no hash lookup, lock or allocation per query.
//! [`DnsCollector`] renders them at scrape time through the crate's encoder, leaving out the
//! series that are still zero.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Unit;

use super::latency::Latency;

/// The `transport` label, by index ([`UDP`], [`TCP`]).
pub const TRANSPORTS: [&str; 2] = ["udp", "tcp"];
pub const UDP: usize = 0;
pub const TCP: usize = 1;

/// The `qtype` label, by [`qtype_index`]; every other type counts as `other`.
pub const QTYPES: [&str; 16] = [
    "A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT", "SRV", "PTR", "ANY", "CAA", "HTTPS", "SVCB",
    "DS", "DNSKEY", "other",
];

/// The `rcode` label, by `rcode_index`: the header RCODEs, then BADVERS (16) and BADCOOKIE
/// (23, the only other extended RCODE Meridian sends; anything above 16 lands there).
pub const RCODES: [&str; 18] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "RCODE11",
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
    "BADVERS",
    "BADCOOKIE",
];

const NQ: usize = QTYPES.len();
const NR: usize = RCODES.len();

/// The slot of a query type in [`QTYPES`]: a table for the types below 256, CAA apart.
#[inline]
pub fn qtype_index(qtype: u16) -> usize {
    match QTYPE_SLOT.get(usize::from(qtype)) {
        Some(&i) => usize::from(i),
        None if qtype == 257 => 10,
        None => NQ - 1,
    }
}

/// [`qtype_index`] of the types 0..=255.
static QTYPE_SLOT: [u8; 256] = {
    let mut t = [(NQ - 1) as u8; 256];
    let known: [(usize, u8); 14] = [
        (1, 0),
        (28, 1),
        (5, 2),
        (15, 3),
        (2, 4),
        (6, 5),
        (16, 6),
        (33, 7),
        (12, 8),
        (255, 9),
        (65, 11),
        (64, 12),
        (43, 13),
        (48, 14),
    ];
    let mut i = 0;
    while i < known.len() {
        t[known[i].0] = known[i].1;
        i += 1;
    }
    t
};

/// The slot of a (full, extended) RCODE in [`RCODES`].
#[inline]
pub fn rcode_index(rcode: u16) -> usize {
    usize::from(rcode).min(NR - 1)
}

#[allow(clippy::declare_interior_mutable_const)]
const Z: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const BY_RCODE: [AtomicU64; NR] = [Z; NR];
#[allow(clippy::declare_interior_mutable_const)]
const BY_QTYPE: [AtomicU64; NQ] = [Z; NQ];
#[allow(clippy::declare_interior_mutable_const)]
const BY_QTYPE_RCODE: [[AtomicU64; NR]; NQ] = [BY_RCODE; NQ];

/// The query path's counters; the one instance is [`DNS`].
#[derive(Debug)]
pub struct DnsCounters {
    queries: [[AtomicU64; NQ]; 2],
    responses: [[[AtomicU64; NR]; NQ]; 2],
    latency: [Latency; 2],
}

/// The one instance.
pub static DNS: DnsCounters = DnsCounters::new();

impl DnsCounters {
    pub const fn new() -> DnsCounters {
        DnsCounters {
            queries: [BY_QTYPE, BY_QTYPE],
            responses: [BY_QTYPE_RCODE, BY_QTYPE_RCODE],
            latency: [Latency::new(), Latency::new()],
        }
    }

    /// Count one query received over `transport` ([`UDP`] or [`TCP`]), and its response
    /// when one was sent (`rcode`).
    #[inline]
    pub fn query(&self, transport: usize, qtype: u16, rcode: Option<u16>) {
        let q = qtype_index(qtype);
        if let Some(c) = self.queries.get(transport).and_then(|t| t.get(q)) {
            c.fetch_add(1, Relaxed);
        }
        if let Some(c) = rcode.and_then(|r| {
            self.responses
                .get(transport)
                .and_then(|t| t.get(q))
                .and_then(|by_r| by_r.get(rcode_index(r)))
        }) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// The answer latency histogram of `transport`.
    #[inline]
    pub fn latency(&self, transport: usize) -> Option<&Latency> {
        self.latency.get(transport)
    }

    /// Queries counted so far for one label set (tests, `/status`).
    pub fn queries(&self, transport: usize, qtype: u16) -> u64 {
        self.queries
            .get(transport)
            .and_then(|t| t.get(qtype_index(qtype)))
            .map_or(0, |c| c.load(Relaxed))
    }

    /// Responses counted so far for one label set.
    pub fn responses(&self, transport: usize, qtype: u16, rcode: u16) -> u64 {
        self.responses
            .get(transport)
            .and_then(|t| t.get(qtype_index(qtype)))
            .and_then(|q| q.get(rcode_index(rcode)))
            .map_or(0, |c| c.load(Relaxed))
    }
}

impl Default for DnsCounters {
    fn default() -> Self {
        Self::new()
    }
}

/// Renders a [`DnsCounters`] at scrape time.
#[derive(Debug)]
pub struct DnsCollector(pub &'static DnsCounters);

impl Collector for DnsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = self.0;
        let mut fam = encoder.encode_descriptor(
            "dns_queries",
            "DNS queries received, by transport and query type (answered or not).",
            None,
            MetricType::Counter,
        )?;
        for (t, by_q) in TRANSPORTS.iter().zip(&c.queries) {
            for (q, v) in QTYPES.iter().zip(by_q) {
                let n = v.load(Relaxed);
                if n > 0 {
                    let labels = [("transport", *t), ("qtype", *q)];
                    ConstCounter::new(n).encode(fam.encode_family(&labels)?)?;
                }
            }
        }
        let mut fam = encoder.encode_descriptor(
            "dns_responses",
            "DNS responses sent, by transport, query type and RCODE.",
            None,
            MetricType::Counter,
        )?;
        for (t, by_q) in TRANSPORTS.iter().zip(&c.responses) {
            for (q, by_r) in QTYPES.iter().zip(by_q) {
                for (r, v) in RCODES.iter().zip(by_r) {
                    let n = v.load(Relaxed);
                    if n > 0 {
                        let labels = [("transport", *t), ("qtype", *q), ("rcode", *r)];
                        ConstCounter::new(n).encode(fam.encode_family(&labels)?)?;
                    }
                }
            }
        }
        let mut fam = encoder.encode_descriptor(
            "dns_answer_duration",
            "Time from receiving a query to handing its answer to the kernel, by transport \
             (UDP: one receive batch in 16 is timed, each of its queries counted with the \
             batch's time).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (t, h) in TRANSPORTS.iter().zip(&c.latency) {
            let labels = [("transport", *t)];
            h.encode(fam.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
