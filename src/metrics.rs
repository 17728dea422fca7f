//! Process-wide counters and gauges, rendered in the Prometheus text format.
//!
//! A fixed set: no client addresses or query names become labels. Every event that logs also
//! bumps its counter here. Counters are relaxed atomics, cheap enough for the query path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// All of Meridian's metrics.
pub struct Metrics {
    pub queries_udp: AtomicU64,
    pub queries_tcp: AtomicU64,
    /// Responses by RCODE (index = rcode, 0..=15; BADVERS at 16, BADCOOKIE at 17).
    pub responses: [AtomicU64; 18],
    pub truncated: AtomicU64,
    /// Packets too broken to answer at all (no header).
    pub dropped: AtomicU64,
    /// UDP answers the rate limiter stopped (dropped or slipped).
    pub rrl_limited: AtomicU64,
    /// Of those, the ones replaced by a truncated reply or BADCOOKIE.
    pub rrl_slipped: AtomicU64,
    pub ecs_queries: AtomicU64,
    pub service_answers: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub zones_loaded: AtomicU64,
    pub zones_failed: AtomicU64,
    pub config_generation: AtomicU64,
    pub health_transitions: AtomicU64,
    pub health_probes: AtomicU64,
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

const RCODES: [&str; 18] = [
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

impl Metrics {
    /// All zero.
    pub const fn new() -> Self {
        Metrics {
            queries_udp: Z,
            queries_tcp: Z,
            responses: [Z; 18],
            truncated: Z,
            dropped: Z,
            rrl_limited: Z,
            rrl_slipped: Z,
            ecs_queries: Z,
            service_answers: Z,
            reloads_ok: Z,
            reloads_failed: Z,
            zones_loaded: Z,
            zones_failed: Z,
            config_generation: Z,
            health_transitions: Z,
            health_probes: Z,
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

    /// Count one response with this RCODE (BADVERS = 16; BADCOOKIE, the only other extended
    /// RCODE Meridian sends, and anything above 16).
    #[inline]
    pub fn response(&self, rcode: u16) {
        inc(&self.responses[usize::from(rcode).min(17)]);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, v: &AtomicU64| {
            out.push_str(&format!(
                "# HELP meridian_{name} {help}\n# TYPE meridian_{name} {kind}\nmeridian_{name} {}\n",
                v.load(Relaxed)
            ));
        };
        one(
            "dns_queries_udp_total",
            "counter",
            "DNS queries received over UDP.",
            &self.queries_udp,
        );
        one(
            "dns_queries_tcp_total",
            "counter",
            "DNS queries received over TCP.",
            &self.queries_tcp,
        );
        one(
            "dns_truncated_total",
            "counter",
            "UDP responses sent with TC set.",
            &self.truncated,
        );
        one(
            "dns_dropped_total",
            "counter",
            "Packets dropped as unanswerable.",
            &self.dropped,
        );
        one(
            "dns_rrl_limited_total",
            "counter",
            "UDP answers stopped by response rate limiting (dropped or slipped).",
            &self.rrl_limited,
        );
        one(
            "dns_rrl_slipped_total",
            "counter",
            "Rate-limited UDP answers replaced by a truncated reply or BADCOOKIE.",
            &self.rrl_slipped,
        );
        one(
            "dns_ecs_queries_total",
            "counter",
            "Queries carrying EDNS Client Subnet.",
            &self.ecs_queries,
        );
        one(
            "dns_service_answers_total",
            "counter",
            "Answers computed from a service policy.",
            &self.service_answers,
        );
        one(
            "reloads_ok_total",
            "counter",
            "Successful configuration reloads.",
            &self.reloads_ok,
        );
        one(
            "reloads_failed_total",
            "counter",
            "Refused configuration reloads.",
            &self.reloads_failed,
        );
        one("zones_loaded", "gauge", "Zones served.", &self.zones_loaded);
        one(
            "zones_failed",
            "gauge",
            "Zones refused at the last load.",
            &self.zones_failed,
        );
        one(
            "config_generation",
            "gauge",
            "Number of the configuration in force.",
            &self.config_generation,
        );
        one(
            "health_probes_total",
            "counter",
            "Health probes run.",
            &self.health_probes,
        );
        one(
            "health_transitions_total",
            "counter",
            "Health state changes.",
            &self.health_transitions,
        );
        one(
            "health_targets_up",
            "gauge",
            "Health targets up.",
            &self.health_targets_up,
        );
        one(
            "health_targets_down",
            "gauge",
            "Health targets down.",
            &self.health_targets_down,
        );
        one(
            "lvs_reconciles_total",
            "counter",
            "IPVS reconcile passes.",
            &self.lvs_reconciles,
        );
        one(
            "lvs_operations_total",
            "counter",
            "IPVS operations applied.",
            &self.lvs_ops,
        );
        one(
            "lvs_errors_total",
            "counter",
            "IPVS operations the kernel refused.",
            &self.lvs_errors,
        );
        one(
            "lvs_drains_ended_total",
            "counter",
            "Drains ended by deleting their real server (connections ended or deadline).",
            &self.lvs_drains_ended,
        );
        one(
            "cluster_peers_alive",
            "gauge",
            "Peers the failure detector holds alive (suspect included).",
            &self.cluster_peers_alive,
        );
        one(
            "cluster_peers_divergent",
            "gauge",
            "Live peers whose configuration digest differs from this node's.",
            &self.cluster_peers_divergent,
        );
        one(
            "cluster_packets_rejected_total",
            "counter",
            "Gossip packets dropped: bad tag, too short or unknown version.",
            &self.cluster_packets_rejected,
        );
        one(
            "cluster_packets_sent_total",
            "counter",
            "Gossip datagrams sealed and sent.",
            &self.cluster_packets_sent,
        );
        one(
            "cluster_packets_received_total",
            "counter",
            "Gossip datagrams opened and handed to chitchat.",
            &self.cluster_packets_received,
        );
        one(
            "cluster_bytes_sent_total",
            "counter",
            "Bytes of the gossip datagrams sent (sealed UDP payload).",
            &self.cluster_bytes_sent,
        );
        one(
            "cluster_bytes_received_total",
            "counter",
            "Bytes of the gossip datagrams received and opened (sealed UDP payload).",
            &self.cluster_bytes_received,
        );
        for (name, kind, help, v) in [
            (
                "anycast_prefixes_announced",
                "gauge",
                "Anycast prefixes this node announces now (demoted included).",
                &self.anycast_announced,
            ),
            (
                "anycast_announcements_total",
                "counter",
                "Anycast prefixes announced (with normal attributes) by this node.",
                &self.anycast_announcements,
            ),
            (
                "anycast_demotions_total",
                "counter",
                "Anycast prefixes announced with worse attributes before a withdrawal.",
                &self.anycast_demotions,
            ),
            (
                "anycast_withdrawals_total",
                "counter",
                "Anycast prefixes withdrawn by this node.",
                &self.anycast_withdrawals,
            ),
            (
                "anycast_backend_errors_total",
                "counter",
                "BGP speaker commands that failed or whose result did not read back.",
                &self.anycast_backend_errors,
            ),
            (
                "anycast_bfd_sessions_up",
                "gauge",
                "Fate-sharing BFD sessions this node answers that are up.",
                &self.anycast_bfd_sessions_up,
            ),
        ] {
            one(name, kind, help, v);
        }
        out.push_str(
            "# HELP meridian_dns_responses_total DNS responses by RCODE.\n# TYPE meridian_dns_responses_total counter\n",
        );
        for (name, v) in RCODES.iter().zip(&self.responses) {
            let n = v.load(Relaxed);
            if n > 0
                || matches!(
                    *name,
                    "NOERROR" | "NXDOMAIN" | "REFUSED" | "FORMERR" | "SERVFAIL"
                )
            {
                out.push_str(&format!(
                    "meridian_dns_responses_total{{rcode=\"{name}\"}} {n}\n"
                ));
            }
        }
        // The director's labelled figures (their label sets follow the configuration), from
        // its latest status, rendered only when scraped.
        if let Some(lvs) = crate::lvs::status::latest() {
            out.push_str(&lvs.prometheus());
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_every_family_and_counts() {
        let m = Metrics::new();
        m.response(3);
        m.response(16);
        m.response(23);
        inc(&m.queries_udp);
        let text = m.render();
        assert!(
            text.contains("meridian_dns_queries_udp_total 1\n"),
            "{text}"
        );
        assert!(text.contains("meridian_dns_responses_total{rcode=\"NXDOMAIN\"} 1\n"));
        assert!(text.contains("meridian_dns_responses_total{rcode=\"BADVERS\"} 1\n"));
        assert!(text.contains("meridian_dns_responses_total{rcode=\"BADCOOKIE\"} 1\n"));
        assert!(text.contains("meridian_cluster_packets_rejected"), "{text}");
        assert!(text.contains("# TYPE meridian_anycast_withdrawals_total counter\n"));
        // 19 families, 7 for the cluster, 6 for anycast, 2 for rate limiting, 1 for drains
        // (the director's labelled families come only with [lvs]).
        assert_eq!(text.matches("# TYPE").count(), 35);
    }
}
