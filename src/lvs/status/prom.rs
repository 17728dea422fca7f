//! The director's status as labelled Prometheus lines (per virtual service and per real
//! server), and the latest status the metrics endpoint renders when scraped.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use super::{DirectorStatus, RealState, RealStatus, ServiceStatus};
use crate::lvs::client::key_display;

/// The running director's latest status, for the metrics endpoint.
static LATEST: ArcSwapOption<DirectorStatus> = ArcSwapOption::const_empty();

/// Make `s` the status the metrics show.
pub fn publish(s: Arc<DirectorStatus>) {
    LATEST.store(Some(s));
}

/// The status the metrics show (None without a running director).
pub fn latest() -> Option<Arc<DirectorStatus>> {
    LATEST.load_full()
}

impl DirectorStatus {
    /// Labelled Prometheus lines: per virtual service and per real server.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let svc_label = |s: &ServiceStatus| format!("service=\"{}\"", key_display(&s.key));
        type SvcFig = fn(&ServiceStatus) -> Option<u64>;
        let svc: [(&str, &str, &str, SvcFig); 11] = [
            (
                "connections_total",
                "counter",
                "Connections scheduled by the virtual service.",
                |s| Some(s.stats.conns),
            ),
            (
                "packets_in_total",
                "counter",
                "Packets in through the virtual service.",
                |s| Some(s.stats.inpkts),
            ),
            (
                "packets_out_total",
                "counter",
                "Packets out through the virtual service (NAT only).",
                |s| Some(s.stats.outpkts),
            ),
            (
                "bytes_in_total",
                "counter",
                "Bytes in through the virtual service.",
                |s| Some(s.stats.inbytes),
            ),
            (
                "bytes_out_total",
                "counter",
                "Bytes out through the virtual service (NAT only).",
                |s| Some(s.stats.outbytes),
            ),
            (
                "connection_rate",
                "gauge",
                "New connections per second (kernel estimator).",
                |s| Some(s.stats.cps),
            ),
            (
                "packet_in_rate",
                "gauge",
                "Packets in per second (kernel estimator).",
                |s| Some(s.stats.inpps),
            ),
            (
                "byte_in_rate",
                "gauge",
                "Bytes in per second (kernel estimator).",
                |s| Some(s.stats.inbps),
            ),
            (
                "active_connections",
                "gauge",
                "Active connections over every real server.",
                |s| Some(s.load.active_conns),
            ),
            (
                "capacity",
                "gauge",
                "Configured capacity in active connections.",
                |s| (s.load.capacity > 0).then_some(s.load.capacity),
            ),
            ("up", "gauge", "1 while the VIP holds its quorum.", |s| {
                s.up.map(u64::from)
            }),
        ];
        for (name, kind, help, f) in svc {
            family(&mut out, &format!("lvs_service_{name}"), kind, help);
            for s in &self.services {
                if let Some(v) = f(s) {
                    out.push_str(&format!(
                        "meridian_lvs_service_{name}{{{}}} {v}\n",
                        svc_label(s)
                    ));
                }
            }
        }
        type RealFig = fn(&RealStatus) -> Option<u64>;
        let real: [(&str, &str, &str, RealFig); 9] = [
            (
                "connections_total",
                "counter",
                "Connections scheduled to the real server.",
                |r| Some(r.stats.conns),
            ),
            (
                "packets_in_total",
                "counter",
                "Packets in to the real server.",
                |r| Some(r.stats.inpkts),
            ),
            (
                "bytes_in_total",
                "counter",
                "Bytes in to the real server.",
                |r| Some(r.stats.inbytes),
            ),
            (
                "bytes_out_total",
                "counter",
                "Bytes out from the real server (NAT only).",
                |r| Some(r.stats.outbytes),
            ),
            (
                "connection_rate",
                "gauge",
                "New connections per second (kernel estimator).",
                |r| Some(r.stats.cps),
            ),
            ("active_connections", "gauge", "Active connections.", |r| {
                Some(u64::from(r.active_conns))
            }),
            (
                "inactive_connections",
                "gauge",
                "Inactive connections.",
                |r| Some(u64::from(r.inactive_conns)),
            ),
            (
                "weight",
                "gauge",
                "The kernel's weight (absent when not in the kernel).",
                |r| r.weight.map(u64::from),
            ),
            (
                "draining",
                "gauge",
                "1 while a drain waits for the real server's connections.",
                |r| Some(u64::from(r.state == RealState::Draining)),
            ),
        ];
        for (name, kind, help, f) in real {
            family(&mut out, &format!("lvs_real_{name}"), kind, help);
            for s in &self.services {
                for r in &s.reals {
                    if let Some(v) = f(r) {
                        out.push_str(&format!(
                            "meridian_lvs_real_{name}{{{},real=\"{}\"}} {v}\n",
                            svc_label(s),
                            r.addr
                        ));
                    }
                }
            }
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str(&format!(
        "# HELP meridian_{name} {help}\n# TYPE meridian_{name} {kind}\n"
    ));
}
