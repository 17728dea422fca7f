//! What the admin endpoint sees of the running server: the status document and the override
//! API, both backed by the live snapshot, configuration, prober and director.

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::{Value, json};

use crate::admin::routes::{OverrideApi, OverrideMeta};
use crate::cluster::{ClusterHandle, ClusterView};
use crate::config::{self, Config, OverrideState};
use crate::health::HealthHandle;
use crate::health::overrides::RuntimeOverride;
use crate::state::SharedState;

/// The status document: configuration, zones, services, per-target health, overrides.
pub fn status(
    cfg: &Config,
    state: &SharedState,
    probes: &HealthHandle,
    generation: u64,
    gossip: Option<&ClusterHandle>,
    director: Option<&crate::lvs::DirectorStatus>,
) -> Value {
    let snap = state.load();
    let zones: Vec<Value> = snap
        .zones
        .zones
        .iter()
        .map(|z| json!({"zone": crate::dns::name::to_text(&z.origin), "names": z.nodes.len()}))
        .collect();
    let services: Vec<Value> = cfg
        .services
        .iter()
        .map(|(id, s)| json!({"service": id, "name": s.fqdn, "mode": format!("{:?}", s.mode).to_lowercase(), "sites": s.sites.join(" "), "ttl": s.ttl}))
        .collect();
    let view = probes.view();
    let mut targets = Vec::new();
    if let Some(policy) = &snap.policy {
        for t in policy.targets() {
            let v = snap.health.get(t.id.index());
            let probe = view.ip_state(t.addr).map_or("not checked", |s| s.as_str());
            let mut row = json!({"target": t.id.0, "site": t.site, "link": t.link, "address": t.addr.to_string(), "state": v.status.as_str(), "source": v.source.as_str(), "probe": probe});
            if let (Some(g), Some(c)) = (gossip, &cfg.cluster) {
                row["vantage"] = vantage_json(&g.view(), &c.vantage, &view, t.addr);
            }
            targets.push(row);
        }
    }
    let overrides: Vec<Value> = view.overrides().list().iter().map(override_json).collect();
    json!({
        "config": cfg.source.display().to_string(),
        "generation": generation,
        "health_generation": view.generation(),
        "zones": zones,
        "services": services,
        "targets": targets,
        "overrides": overrides,
        "cluster": gossip.map(cluster_json),
        "lvs": director.map(crate::lvs::DirectorStatus::json),
    })
}

/// The peers as this node sees them (`meridian cluster`, the status page).
pub fn cluster_json(g: &ClusterHandle) -> Value {
    let view = g.view();
    let now = tokio::time::Instant::now();
    let divergent: Vec<&str> = view.divergent().iter().map(|(n, _)| *n).collect();
    let peers: Vec<Value> = view
        .peers
        .values()
        .map(|p| {
            json!({
                "node": p.node,
                "gossip": p.gossip_addr.to_string(),
                "liveness": p.liveness.as_str(),
                "last_heard_ms": u64::try_from(now.saturating_duration_since(p.last_heard).as_millis()).unwrap_or(u64::MAX),
                "digest": p.digest,
                "role": p.role.map(|r| format!("{r:?}").to_lowercase()),
                "divergent": divergent.contains(&p.node.as_str()),
                "observations": p.observations.len(),
                "overrides": p.overrides.len(),
            })
        })
        .collect();
    let stats = g.transport_stats();
    json!({
        "node": view.node,
        "gossip": g.local_addr().to_string(),
        "digest": view.own.digest,
        "role": format!("{:?}", view.own.role).to_lowercase(),
        "divergent": divergent,
        "peers": peers,
        "rejected_packets": stats.rejected(),
        "transport": {
            "packets_sent": stats.sent,
            "packets_received": stats.received,
            "bytes_sent": stats.bytes_sent,
            "bytes_received": stats.bytes_received,
            "send_failed": stats.send_failed,
            "rejected_too_short": stats.rejected_too_short,
            "rejected_bad_version": stats.rejected_bad_version,
            "rejected_bad_tag": stats.rejected_bad_tag,
            "rejected_undecodable": stats.rejected_undecodable,
        },
        "junk_values": view.junk_values,
    })
}

/// Every vantage point's observation of each check of `ip`, and what the rule made of them.
fn vantage_json(
    view: &ClusterView,
    rule: &crate::config::Vantage,
    probes: &crate::health::HealthView,
    ip: std::net::IpAddr,
) -> Value {
    let now = tokio::time::Instant::now();
    let checks: Vec<Value> = probes
        .ip_probes(ip)
        .map(|(key, _)| {
            let d = view.decide(&key.id(), rule, now);
            let e = &d.explanation;
            json!({
                "probe": key.id(),
                "verdict": format!("{:?}", d.verdict).to_lowercase(),
                "basis": format!("{:?}", e.basis),
                "down": e.down,
                "needed": e.needed,
                "votes": e.votes.iter().map(|v| json!({
                    "node": v.node,
                    "state": format!("{:?}", v.state).to_lowercase(),
                    "age_ms": v.age.map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
                })).collect::<Vec<_>>(),
                "ignored": e.ignored.iter().map(|(n, why)| json!({"node": n, "why": format!("{why:?}")})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Value::Array(checks)
}

/// One override in force as JSON: target, state, and for run-time ones who, why, when,
/// until when and on which node.
pub fn override_json(o: &crate::health::overrides::Listed) -> Value {
    match &o.command {
        None => {
            json!({"target": o.target.to_string(), "state": o.state.as_str(), "source": "config"})
        }
        Some(c) => json!({
            "target": o.target.to_string(),
            "state": o.state.as_str(),
            "source": "runtime",
            "author": c.author,
            "reason": c.reason,
            "set_at_ms": c.set_at_ms,
            "expires_ms": c.expires_ms,
            "origin": c.origin,
        }),
    }
}

/// The override API over the prober's handle; targets are checked against the live config.
pub struct Overrides {
    pub handle: HealthHandle,
    pub cfg: Arc<ArcSwap<Config>>,
    /// This node's name (`[cluster] node`), "" without a cluster.
    pub node: String,
}

impl Overrides {
    fn run<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        // Called from the admin task on the multi-threaded runtime: block this worker only.
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(fut))
    }
}

impl OverrideApi for Overrides {
    fn list(&self) -> Value {
        Value::Array(
            self.handle
                .list_overrides()
                .iter()
                .map(override_json)
                .collect(),
        )
    }

    fn set(&self, target: &str, state: &str, meta: &OverrideMeta) -> Result<(), String> {
        let target = config::parse_override_target(target, &self.cfg.load().sites)?;
        let state = OverrideState::parse(state)
            .ok_or_else(|| format!("`{state}` is not one of up, down, drain"))?;
        let now = crate::health::statefile::unix_ms(std::time::SystemTime::now());
        let expires_ms = match &meta.expires_in {
            None => None,
            Some(text) => {
                let d = humantime::parse_duration(text)
                    .map_err(|e| format!("expires_in `{text}`: {e}"))?;
                Some(now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
            }
        };
        let cmd = RuntimeOverride {
            state: Some(state),
            author: meta.author.chars().take(100).collect(),
            reason: meta.reason.chars().take(200).collect(),
            set_at_ms: now,
            expires_ms,
            origin: self.node.clone(),
        };
        self.run(self.handle.set_override(target.clone(), cmd))
            .map_err(|e| e.to_string())?;
        tracing::info!(target = %target, state = state.as_str(), author = %meta.author, reason = %meta.reason, "override set");
        Ok(())
    }

    fn clear(&self, target: &str, author: &str) -> Result<(), String> {
        let target = config::parse_override_target(target, &self.cfg.load().sites)?;
        match self
            .run(
                self.handle
                    .clear_override(target.clone(), &self.node, author),
            )
            .map_err(|e| e.to_string())?
        {
            Some(_) => {
                tracing::info!(target = %target, author = %author, "override cleared");
                Ok(())
            }
            None => Err(format!("no run-time override on {target}")),
        }
    }
}
