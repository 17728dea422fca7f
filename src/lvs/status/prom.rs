//! The director's status as labelled Prometheus metrics (per virtual service and per real
//! server), and the latest status the metrics endpoint renders when scraped: a collector
//! of the `prometheus-client` crate reads it at each scrape.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

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

/// Renders the latest status at scrape time (nothing without a running director).
#[derive(Debug)]
pub struct LvsCollector;

impl Collector for LvsCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        match latest() {
            Some(st) => st.encode(encoder),
            None => Ok(()),
        }
    }
}

const COUNTER: MetricType = MetricType::Counter;
const GAUGE: MetricType = MetricType::Gauge;

fn value(
    m: prometheus_client::encoding::MetricEncoder<'_>,
    kind: MetricType,
    v: u64,
) -> std::fmt::Result {
    if kind == COUNTER {
        ConstCounter::new(v).encode(m)
    } else {
        ConstGauge::new(v).encode(m)
    }
}

impl DirectorStatus {
    /// Labelled metrics: per virtual service (`service`) and per real server (`service`,
    /// `real`).
    pub fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let names: Vec<String> = self.services.iter().map(|s| key_display(&s.key)).collect();
        type SvcFig = fn(&ServiceStatus) -> Option<u64>;
        let svc: [(&str, MetricType, &str, SvcFig); 12] = [
            (
                "connections",
                COUNTER,
                "Connections scheduled by the virtual service.",
                |s| Some(s.stats.conns),
            ),
            (
                "packets_in",
                COUNTER,
                "Packets in through the virtual service.",
                |s| Some(s.stats.inpkts),
            ),
            (
                "packets_out",
                COUNTER,
                "Packets out through the virtual service (NAT only).",
                |s| Some(s.stats.outpkts),
            ),
            (
                "bytes_in",
                COUNTER,
                "Bytes in through the virtual service.",
                |s| Some(s.stats.inbytes),
            ),
            (
                "bytes_out",
                COUNTER,
                "Bytes out through the virtual service (NAT only).",
                |s| Some(s.stats.outbytes),
            ),
            (
                "connection_rate",
                GAUGE,
                "New connections per second (kernel estimator).",
                |s| Some(s.stats.cps),
            ),
            (
                "packet_in_rate",
                GAUGE,
                "Packets in per second (kernel estimator).",
                |s| Some(s.stats.inpps),
            ),
            (
                "byte_in_rate",
                GAUGE,
                "Bytes in per second (kernel estimator).",
                |s| Some(s.stats.inbps),
            ),
            (
                "active_connections",
                GAUGE,
                "Active connections over every real server.",
                |s| Some(s.load.active_conns),
            ),
            (
                "capacity",
                GAUGE,
                "Configured capacity in active connections.",
                |s| (s.load.capacity > 0).then_some(s.load.capacity),
            ),
            ("up", GAUGE, "1 while the VIP holds its quorum.", |s| {
                s.up.map(u64::from)
            }),
            (
                "full",
                GAUGE,
                "1 while the VIP is over its spill mark (DNS sends no new clients).",
                |s| s.load.spill.map(|_| u64::from(s.load.full)),
            ),
        ];
        for (name, kind, help, f) in svc {
            let full = format!("lvs_service_{name}");
            let mut fam = encoder.encode_descriptor(&full, help, None, kind)?;
            for (s, sname) in self.services.iter().zip(&names) {
                if let Some(v) = f(s) {
                    let labels = [("service", sname.as_str())];
                    value(fam.encode_family(&labels)?, kind, v)?;
                }
            }
        }
        type RealFig = fn(&RealStatus) -> Option<u64>;
        let real: [(&str, MetricType, &str, RealFig); 9] = [
            (
                "connections",
                COUNTER,
                "Connections scheduled to the real server.",
                |r| Some(r.stats.conns),
            ),
            (
                "packets_in",
                COUNTER,
                "Packets in to the real server.",
                |r| Some(r.stats.inpkts),
            ),
            ("bytes_in", COUNTER, "Bytes in to the real server.", |r| {
                Some(r.stats.inbytes)
            }),
            (
                "bytes_out",
                COUNTER,
                "Bytes out from the real server (NAT only).",
                |r| Some(r.stats.outbytes),
            ),
            (
                "connection_rate",
                GAUGE,
                "New connections per second (kernel estimator).",
                |r| Some(r.stats.cps),
            ),
            ("active_connections", GAUGE, "Active connections.", |r| {
                Some(u64::from(r.active_conns))
            }),
            (
                "inactive_connections",
                GAUGE,
                "Inactive connections.",
                |r| Some(u64::from(r.inactive_conns)),
            ),
            (
                "weight",
                GAUGE,
                "The kernel's weight (absent when not in the kernel).",
                |r| r.weight.map(u64::from),
            ),
            (
                "draining",
                GAUGE,
                "1 while a drain waits for the real server's connections.",
                |r| Some(u64::from(r.state == RealState::Draining)),
            ),
        ];
        for (name, kind, help, f) in real {
            let full = format!("lvs_real_{name}");
            let mut fam = encoder.encode_descriptor(&full, help, None, kind)?;
            for (s, sname) in self.services.iter().zip(&names) {
                for r in &s.reals {
                    if let Some(v) = f(r) {
                        let addr = r.addr.to_string();
                        let labels = [("service", sname.as_str()), ("real", addr.as_str())];
                        value(fam.encode_family(&labels)?, kind, v)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// One status as a collector (for [`DirectorStatus::prometheus`]).
#[derive(Debug)]
struct Fixed(DirectorStatus);

impl Collector for Fixed {
    fn encode(&self, encoder: DescriptorEncoder) -> std::fmt::Result {
        self.0.encode(encoder)
    }
}

impl DirectorStatus {
    /// This status alone in the Prometheus text format, as `/metrics` shows it.
    pub fn prometheus(&self) -> String {
        let mut r = prometheus_client::registry::Registry::with_prefix("meridian");
        r.register_collector(Box::new(Fixed(self.clone())));
        let mut out = String::new();
        match prometheus_client::encoding::prometheus_text::encode(&mut out, &r) {
            Ok(()) => out,
            Err(_) => String::new(),
        }
    }
}
