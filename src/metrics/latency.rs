//! A lock-free latency histogram with fixed buckets, for the query path: one observation is
//! a bucket search over a dozen bounds and three relaxed `fetch_add`s, where the crate's
//! `Histogram` takes a write lock. Rendered through the crate's histogram encoder.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use prometheus_client::encoding::{MetricEncoder, NoLabelSet};

/// Upper bounds of the buckets in nanoseconds (1 µs to 100 ms); above the last is `+Inf`.
pub const BOUNDS_NS: [u64; 12] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    1_000_000,
    5_000_000,
    25_000_000,
    100_000_000,
];

/// The monotonic clock the shells time answers with (about 40 ns a read on these VMs; the
/// cores never read it, they take time as an argument).
#[inline]
#[allow(clippy::disallowed_methods)]
pub fn clock() -> Instant {
    Instant::now()
}

#[allow(clippy::declare_interior_mutable_const)]
const Z: AtomicU64 = AtomicU64::new(0);

/// Counts per bucket (not cumulative; the last is `+Inf`), the sum in nanoseconds.
#[derive(Debug)]
pub struct Latency {
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Latency {
    pub const fn new() -> Latency {
        Latency {
            buckets: [Z; BOUNDS_NS.len() + 1],
            sum_ns: Z,
        }
    }

    /// Record `n` events that each took `ns` nanoseconds.
    #[inline]
    pub fn observe_n(&self, ns: u64, n: u64) {
        let i = BOUNDS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(BOUNDS_NS.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(n, Relaxed);
        }
        self.sum_ns.fetch_add(ns.saturating_mul(n), Relaxed);
    }

    /// Record `n` events that each took the time since `start` (a [`clock`] reading).
    #[inline]
    pub fn since(&self, start: Instant, n: u64) {
        let ns =
            u64::try_from(clock().saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX);
        self.observe_n(ns, n);
    }

    /// Events recorded so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Encode as one histogram series (labels come from the caller's `encode_family`).
    pub fn encode(&self, mut m: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut buckets = [(0.0f64, 0u64); BOUNDS_NS.len() + 1];
        let mut count = 0u64;
        for (i, slot) in buckets.iter_mut().enumerate() {
            let n = self.buckets.get(i).map_or(0, |b| b.load(Relaxed));
            let bound = BOUNDS_NS.get(i).map_or(f64::INFINITY, |&b| b as f64 / 1e9);
            *slot = (bound, n);
            count += n;
        }
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        m.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}
