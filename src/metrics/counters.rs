//! The process-wide counters and gauges without labels: one relaxed atomic each in the
//! static [`METRICS`], bumped where the event happens, and rendered at scrape time from one
//! table of (name, type, help, atomic) by [`CountersCollector`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Every unlabelled metric.
#[derive(Debug)]
pub struct Metrics {
    pub truncated: AtomicU64,
    /// Packets too broken to answer at all (no header).
    pub dropped: AtomicU64,
    /// UDP answers the rate limiter stopped (dropped or slipped).
    pub rrl_limited: AtomicU64,
    /// Of those, the ones replaced by a truncated reply or BADCOOKIE.
    pub rrl_slipped: AtomicU64,
    /// Queries carrying a well-formed EDNS Client Subnet option.
    pub ecs_queries: AtomicU64,
    /// UDP threads restarted after a panic or an unexpected end.
    pub udp_thread_restarts: AtomicU64,
    pub zones_loaded: AtomicU64,
    pub zones_failed: AtomicU64,
    pub config_generation: AtomicU64,
    pub health_targets_up: AtomicU64,
    pub health_targets_down: AtomicU64,
    pub lvs_reconciles: AtomicU64,
    pub lvs_ops: AtomicU64,
    pub lvs_errors: AtomicU64,
    pub lvs_drains_ended: AtomicU64,
    pub cluster_peers_alive: AtomicU64,
    pub cluster_peers_divergent: AtomicU64,
    pub cluster_packets_rejected: AtomicU64,
    pub cluster_packets_sent: AtomicU64,
    pub cluster_packets_received: AtomicU64,
    pub cluster_bytes_sent: AtomicU64,
    pub cluster_bytes_received: AtomicU64,
    pub anycast_announced: AtomicU64,
    pub anycast_announcements: AtomicU64,
    pub anycast_demotions: AtomicU64,
    pub anycast_withdrawals: AtomicU64,
    pub anycast_backend_errors: AtomicU64,
    pub anycast_bfd_sessions_up: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const Z: AtomicU64 = AtomicU64::new(0);

/// The one instance.
pub static METRICS: Metrics = Metrics::new();

/// Add one to a counter.
#[inline]
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

const COUNTER: MetricType = MetricType::Counter;
const GAUGE: MetricType = MetricType::Gauge;

impl Metrics {
    /// All zero.
    pub const fn new() -> Self {
        Metrics {
            truncated: Z,
            dropped: Z,
            rrl_limited: Z,
            rrl_slipped: Z,
            ecs_queries: Z,
            udp_thread_restarts: Z,
            zones_loaded: Z,
            zones_failed: Z,
            config_generation: Z,
            health_targets_up: Z,
            health_targets_down: Z,
            lvs_reconciles: Z,
            lvs_ops: Z,
            lvs_errors: Z,
            lvs_drains_ended: Z,
            cluster_peers_alive: Z,
            cluster_peers_divergent: Z,
            cluster_packets_rejected: Z,
            cluster_packets_sent: Z,
            cluster_packets_received: Z,
            cluster_bytes_sent: Z,
            cluster_bytes_received: Z,
            anycast_announced: Z,
            anycast_announcements: Z,
            anycast_demotions: Z,
            anycast_withdrawals: Z,
            anycast_backend_errors: Z,
            anycast_bfd_sessions_up: Z,
        }
    }

    /// Every metric: name (after `meridian_`; counters without `_total`, which the encoder
    /// adds), type, help, value.
    fn table(&self) -> [(&'static str, MetricType, &'static str, &AtomicU64); 28] {
        [
            (
                "dns_truncated",
                COUNTER,
                "UDP responses sent with TC set.",
                &self.truncated,
            ),
            (
                "dns_dropped",
                COUNTER,
                "Packets dropped as unanswerable.",
                &self.dropped,
            ),
            (
                "dns_rrl_limited",
                COUNTER,
                "UDP answers stopped by response rate limiting (dropped or slipped).",
                &self.rrl_limited,
            ),
            (
                "dns_rrl_slipped",
                COUNTER,
                "Rate-limited UDP answers replaced by a truncated reply or BADCOOKIE.",
                &self.rrl_slipped,
            ),
            (
                "dns_ecs_queries",
                COUNTER,
                "Queries carrying a well-formed EDNS Client Subnet option.",
                &self.ecs_queries,
            ),
            (
                "dns_udp_thread_restarts",
                COUNTER,
                "UDP threads restarted after a panic or an unexpected end.",
                &self.udp_thread_restarts,
            ),
            ("zones_loaded", GAUGE, "Zones served.", &self.zones_loaded),
            (
                "zones_failed",
                GAUGE,
                "Zones refused at the last load.",
                &self.zones_failed,
            ),
            (
                "config_generation",
                GAUGE,
                "Number of the configuration in force (1 at start, +1 per accepted reload).",
                &self.config_generation,
            ),
            (
                "health_targets_up",
                GAUGE,
                "Health targets up.",
                &self.health_targets_up,
            ),
            (
                "health_targets_down",
                GAUGE,
                "Health targets down.",
                &self.health_targets_down,
            ),
            (
                "lvs_reconciles",
                COUNTER,
                "IPVS reconcile passes.",
                &self.lvs_reconciles,
            ),
            (
                "lvs_operations",
                COUNTER,
                "IPVS operations applied.",
                &self.lvs_ops,
            ),
            (
                "lvs_errors",
                COUNTER,
                "IPVS operations the kernel refused.",
                &self.lvs_errors,
            ),
            (
                "lvs_drains_ended",
                COUNTER,
                "Drains ended by deleting their real server (connections ended or deadline).",
                &self.lvs_drains_ended,
            ),
            (
                "cluster_peers_alive",
                GAUGE,
                "Peers the failure detector holds alive (suspect included).",
                &self.cluster_peers_alive,
            ),
            (
                "cluster_peers_divergent",
                GAUGE,
                "Live peers whose configuration digest differs from this node's.",
                &self.cluster_peers_divergent,
            ),
            (
                "cluster_packets_rejected",
                COUNTER,
                "Gossip packets dropped: bad tag, too short or unknown version.",
                &self.cluster_packets_rejected,
            ),
            (
                "cluster_packets_sent",
                COUNTER,
                "Gossip datagrams sealed and sent.",
                &self.cluster_packets_sent,
            ),
            (
                "cluster_packets_received",
                COUNTER,
                "Gossip datagrams opened and handed to chitchat.",
                &self.cluster_packets_received,
            ),
            (
                "cluster_bytes_sent",
                COUNTER,
                "Bytes of the gossip datagrams sent (sealed UDP payload).",
                &self.cluster_bytes_sent,
            ),
            (
                "cluster_bytes_received",
                COUNTER,
                "Bytes of the gossip datagrams received and opened (sealed UDP payload).",
                &self.cluster_bytes_received,
            ),
            (
                "anycast_prefixes_announced",
                GAUGE,
                "Anycast prefixes this node announces now (demoted included).",
                &self.anycast_announced,
            ),
            (
                "anycast_announcements",
                COUNTER,
                "Anycast prefixes announced (with normal attributes) by this node.",
                &self.anycast_announcements,
            ),
            (
                "anycast_demotions",
                COUNTER,
                "Anycast prefixes announced with worse attributes before a withdrawal.",
                &self.anycast_demotions,
            ),
            (
                "anycast_withdrawals",
                COUNTER,
                "Anycast prefixes withdrawn by this node.",
                &self.anycast_withdrawals,
            ),
            (
                "anycast_backend_errors",
                COUNTER,
                "BGP speaker commands that failed or whose result did not read back.",
                &self.anycast_backend_errors,
            ),
            (
                "anycast_bfd_sessions_up",
                GAUGE,
                "Fate-sharing BFD sessions this node answers that are up.",
                &self.anycast_bfd_sessions_up,
            ),
        ]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Renders a [`Metrics`] at scrape time.
#[derive(Debug)]
pub struct CountersCollector(pub &'static Metrics);

impl Collector for CountersCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, kind, help, v) in self.0.table() {
            let m = encoder.encode_descriptor(name, help, None, kind)?;
            let v = v.load(Relaxed);
            if kind == COUNTER {
                ConstCounter::new(v).encode(m)?;
            } else {
                ConstGauge::new(v as i64).encode(m)?;
            }
        }
        Ok(())
    }
}
