//! Validation of the `[cluster]` table, including the key file it names (so that `check` and
//! `serve` both refuse a missing, short or world-readable key before anything starts).

use std::time::Duration;

use super::Ctx;
use crate::cluster::ClusterKey;
use crate::config::spec::{ClusterSpec, QuorumSpec};
use crate::config::types::{Cluster, Quorum, Vantage};

/// Bounds of `gossip_interval`.
const GOSSIP_MIN: Duration = Duration::from_millis(10);
const GOSSIP_MAX: Duration = Duration::from_secs(10);
/// `stale_after` must span this many gossip intervals, or fresh observations would go stale
/// between two refreshes.
const STALE_MIN_INTERVALS: u32 = 4;

pub(super) fn cluster(cx: &mut Ctx, c: &ClusterSpec) -> Option<Cluster> {
    let node = c.node.get_ref().trim().to_string();
    let name_ok = !node.is_empty()
        && node.len() <= 63
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !name_ok {
        cx.err(
            c.node.span(),
            "cluster.node",
            format!(
                "`{}` is not a node name (1 to 63 letters, digits, `-`, `_` or `.`)",
                c.node.get_ref()
            ),
        );
    }
    let listen = cx.sockaddr(&c.listen, "cluster.listen");
    if listen.is_some_and(|a| a.port() == 0) {
        cx.err(
            c.listen.span(),
            "cluster.listen",
            "the gossip port must not be 0: peers need to know it",
        );
    }
    let seeds: Vec<_> = c
        .seeds
        .iter()
        .enumerate()
        .filter_map(|(i, s)| cx.sockaddr(s, &format!("cluster.seeds[{i}]")))
        .collect();
    let key_file = cx.path(c.key_file.get_ref());
    if let Err(e) = ClusterKey::load(&key_file) {
        cx.err(c.key_file.span(), "cluster.key_file", e.to_string());
    }
    let gossip_interval = match &c.gossip_interval {
        None => Some(Cluster::DEFAULT_GOSSIP_INTERVAL),
        Some(g) => cx.duration(g, "cluster.gossip_interval").and_then(|d| {
            if (GOSSIP_MIN..=GOSSIP_MAX).contains(&d) {
                Some(d)
            } else {
                cx.err(
                    g.span(),
                    "cluster.gossip_interval",
                    "must be between 10ms and 10s",
                );
                None
            }
        }),
    };
    let vantage = vantage(
        cx,
        c,
        gossip_interval.unwrap_or(Cluster::DEFAULT_GOSSIP_INTERVAL),
    );
    Some(Cluster {
        node,
        listen: listen?,
        seeds,
        key_file,
        vantage: vantage?,
        gossip_interval: gossip_interval?,
    })
}

fn vantage(cx: &mut Ctx, c: &ClusterSpec, gossip: Duration) -> Option<Vantage> {
    let default = Vantage::default();
    let Some(v) = &c.vantage else {
        return Some(default);
    };
    let quorum = match &v.quorum {
        None => Some(default.quorum),
        Some(q) => match q.get_ref() {
            QuorumSpec::Keyword(k) => match k.as_str() {
                "majority" => Some(Quorum::Majority),
                "all" => Some(Quorum::All),
                "any" => Some(Quorum::Any),
                other => {
                    cx.err(
                        q.span(),
                        "cluster.vantage.quorum",
                        format!("`{other}` is not one of majority, all, any, or a number of nodes"),
                    );
                    None
                }
            },
            QuorumSpec::Count(n) if (1..=1000).contains(n) => {
                u32::try_from(*n).ok().map(Quorum::AtLeast)
            }
            QuorumSpec::Count(n) => {
                cx.err(
                    q.span(),
                    "cluster.vantage.quorum",
                    format!("{n} is out of range 1..=1000"),
                );
                None
            }
        },
    };
    let stale_after = match &v.stale_after {
        None => Some(default.stale_after),
        Some(s) => cx.duration(s, "cluster.vantage.stale_after").and_then(|d| {
            if d >= gossip * STALE_MIN_INTERVALS {
                Some(d)
            } else {
                cx.err(
                    s.span(),
                    "cluster.vantage.stale_after",
                    format!(
                        "must be at least {STALE_MIN_INTERVALS} gossip intervals ({})",
                        humantime::format_duration(gossip * STALE_MIN_INTERVALS)
                    ),
                );
                None
            }
        }),
    };
    Some(Vantage {
        quorum: quorum?,
        stale_after: stale_after?,
    })
}
