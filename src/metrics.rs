//! Meridian's Prometheus metrics, kept and rendered with the `prometheus-client` crate.
//!
//! A fixed set: no client addresses or query names become labels. Every event that logs also
//! bumps its metric. Three kinds of storage, chosen by how hot the event is:
//!
//! - unlabelled counters and gauges: relaxed atomics in the static [`METRICS`]
//!   (`counters.rs`), rendered from one table by a collector;
//! - the query path's labelled counters (transport x query type x RCODE) and its latency
//!   histogram: atomics in static arrays found by index (`dns.rs`), no lookup, lock or
//!   allocation per query, rendered by a collector;
//! - labels that follow the configuration (service, site, link) or rare events (probes,
//!   reloads): the crate's `Family` (`answers.rs`, `events.rs`); the query path holds
//!   the answer counters' handles in its snapshot instead of looking label sets up.
//!
//! The director's per-service and per-real-server figures come from its latest status,
//! through a collector in `lvs::status`. [`render`] writes the Prometheus text format
//! (version 0.0.4, [`CONTENT_TYPE`]) that `promtool check metrics` accepts.

mod answers;
mod counters;
mod dns;
mod events;
mod latency;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use prometheus_client::registry::{Registry, Unit};

pub use answers::{AnswerCounters, AnswerFamilies, Path as AnswerPath};
pub use counters::{METRICS, Metrics, inc};
pub use dns::{DNS, DnsCounters, QTYPES, RCODES, TCP, TRANSPORTS, UDP, qtype_index};
pub use events::{Reload, probe, reload, transition};
pub use latency::{Latency, clock};

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every metric, registered once under the `meridian_` prefix.
static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut r = Registry::with_prefix("meridian");
    r.register_collector(Box::new(counters::CountersCollector(&METRICS)));
    r.register_collector(Box::new(dns::DnsCollector(&DNS)));
    r.register(
        "dns_service_answers",
        "Service answers by the service, site and link they handed out (an answer of mode \
         \"all\" counts once for each of its sites)",
        answers::FAMILIES.answers.clone(),
    );
    r.register(
        "dns_service_fallbacks",
        "Service answers made by the service's fallback because nothing was usable",
        answers::FAMILIES.fallbacks.clone(),
    );
    r.register(
        "health_probes",
        "Health probes run, by check type and result",
        events::PROBES.clone(),
    );
    r.register(
        "health_transitions",
        "Health state changes of probed targets, by check type and new state",
        events::TRANSITIONS.clone(),
    );
    r.register_with_unit(
        "health_probe_duration",
        "Time a health probe took, by check type",
        Unit::Seconds,
        events::PROBE_DURATIONS.clone(),
    );
    r.register(
        "reloads",
        "Configuration reloads by result: ok, invalid (configuration refused), failed",
        events::RELOADS.clone(),
    );
    r.register_collector(Box::new(crate::lvs::status::LvsCollector));
    r
});

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let mut out = String::with_capacity(8192);
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &REGISTRY) {
        // Writing into a String cannot fail; a collector could, and then the scrape shows
        // what was written before it.
        tracing::error!(error = %e, "metrics: encoding failed");
    }
    out
}
