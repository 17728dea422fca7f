//! Labelled metrics of events far from the query path, kept in the crate's own `Family`
//! types: health probes and state changes by check type (and result), probe latency by
//! check type, and configuration reloads by result. A few thousand events a second at most,
//! so the family's hash lookup per event costs nothing that matters.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// `check` (tcp, http, https, dns, exec) and `result` (up, down).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub check: &'static str,
    pub result: &'static str,
}

/// `check` and `to`: the state the target went to (up, down).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    pub check: &'static str,
    pub to: &'static str,
}

/// `check`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabel {
    pub check: &'static str,
}

/// `result`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// Probe latency buckets in seconds: 0.5 ms to 10 s (a probe's timeout is at most seconds).
const PROBE_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn probe_histogram() -> Histogram {
    Histogram::new(PROBE_BUCKETS)
}

type ProbeDurations = Family<CheckLabel, Histogram, fn() -> Histogram>;

/// `meridian_health_probes_total{check, result}`.
pub static PROBES: LazyLock<Family<ProbeLabels, Counter>> = LazyLock::new(Family::default);
/// `meridian_health_transitions_total{check, to}`.
pub static TRANSITIONS: LazyLock<Family<TransitionLabels, Counter>> =
    LazyLock::new(Family::default);
/// `meridian_health_probe_duration_seconds{check}`.
pub static PROBE_DURATIONS: LazyLock<ProbeDurations> =
    LazyLock::new(|| Family::new_with_constructor(probe_histogram));
/// `meridian_reloads_total{result}`.
pub static RELOADS: LazyLock<Family<ResultLabel, Counter>> = LazyLock::new(|| {
    let f = Family::default();
    // Both results show from the start, at zero, so a first failure is a visible change.
    for r in [Reload::Ok, Reload::Invalid, Reload::Failed] {
        drop(f.get_or_create(&ResultLabel { result: r.as_str() }));
    }
    f
});

/// Count one probe result of a `check` (its kind name) that took `elapsed`.
pub fn probe(check: &'static str, up: bool, elapsed: Duration) {
    let result = if up { "up" } else { "down" };
    PROBES.get_or_create(&ProbeLabels { check, result }).inc();
    PROBE_DURATIONS
        .get_or_create(&CheckLabel { check })
        .observe(elapsed.as_secs_f64());
}

/// Count one state change of a target of `check` to `to` (`up`, `down`).
pub fn transition(check: &'static str, to: &'static str) {
    TRANSITIONS
        .get_or_create(&TransitionLabels { check, to })
        .inc();
}

/// How a reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The new configuration is in force.
    Ok,
    /// The configuration was refused (its errors are logged); the old one stays.
    Invalid,
    /// Building the new state failed otherwise (policy, zones outside authority, a task).
    Failed,
}

impl Reload {
    pub fn as_str(self) -> &'static str {
        match self {
            Reload::Ok => "ok",
            Reload::Invalid => "invalid",
            Reload::Failed => "failed",
        }
    }
}

/// Count one reload.
pub fn reload(r: Reload) {
    RELOADS
        .get_or_create(&ResultLabel { result: r.as_str() })
        .inc();
}
