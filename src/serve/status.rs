//! The status document behind `GET /status`, `meridian status` and the status page: the
//! configuration in force (generation, digest, load time), the zones, every site, link and
//! address with its state and why, every check with its last and next probe, each service's
//! current answer per plan, the overrides, the cluster and the director.
//!
//! Built on request from the live snapshot, configuration, prober and director; nothing
//! here is kept between requests.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::Server;
use crate::cluster::{ClusterHandle, ClusterView};
use crate::health::statefile::unix_ms;
use crate::health::{HealthView, Level, Source, Status, Verdict};

/// At most this many plans per service in the document (`nearest` can have one per city).
const MAX_PLANS: usize = 64;

/// The status document of the running server.
pub(super) fn document(s: &Server) -> Value {
    let cfg = s.cfg.load();
    let loaded = s.loaded.load();
    let snap = s.state.load();
    let view = s.probes.view();
    let now_ms = unix_ms(SystemTime::now());
    let now = tokio::time::Instant::now().into_std();
    let zones: Vec<Value> = snap
        .zones
        .zones
        .iter()
        .map(|z| json!({"zone": crate::dns::name::to_text(&z.origin), "names": z.nodes.len()}))
        .collect();
    let mut targets = Vec::new();
    let mut sites = SiteStates::default();
    if let Some(policy) = &snap.policy {
        for t in policy.targets() {
            let v = snap.health.get(t.id.index());
            let probe = view.ip_state(t.addr).map_or("not checked", |s| s.as_str());
            let probes: Vec<Value> = view
                .ip_slots(t.addr)
                .map(|(slot, key, st)| {
                    let last = view.index().last_probe_ms(slot);
                    json!({
                        "check": key.id(),
                        "state": st.state.as_str(),
                        "reason": &*st.reason,
                        "changed_ms_ago": st.since.map(|t| ms(now.saturating_duration_since(t))),
                        "last_probe_ms_ago": last.map(|l| now_ms.saturating_sub(l)),
                        "next_probe_in_ms": last.map(|l| {
                            (l.saturating_add(ms(key.check.interval))).saturating_sub(now_ms)
                        }),
                    })
                })
                .collect();
            let reason = reason(&v, &view, &t.site, &t.link, t.addr);
            sites.add(&t.site, &t.link, t.addr, v.status);
            let mut row = json!({"target": t.id.0, "site": t.site, "link": t.link,
                "address": t.addr.to_string(), "state": v.status.as_str(),
                "source": v.source.as_str(), "reason": reason, "probe": probe, "probes": probes});
            if let (Some(g), Some(c)) = (&s.gossip, &cfg.cluster) {
                row["vantage"] = vantage_json(&g.view(), &c.vantage, &view, t.addr);
            }
            targets.push(row);
        }
    }
    let services: Vec<Value> = cfg
        .services
        .iter()
        .map(|(id, svc)| {
            let mut row = json!({"service": id, "name": svc.fqdn,
                "mode": format!("{:?}", svc.mode).to_lowercase(),
                "sites": svc.sites.join(" "), "ttl": svc.ttl});
            if let Some(policy) = &snap.policy
                && let Some(sid) = policy.service_id(&svc.fqdn.to_ascii_lowercase())
            {
                let (answers, plans) = policy.current_answers(sid, &snap.health, MAX_PLANS);
                row["answers"] = serde_json::to_value(answers).unwrap_or_default();
                row["plans"] = plans.into();
            }
            row
        })
        .collect();
    let overrides: Vec<Value> = view.overrides().list().iter().map(override_json).collect();
    json!({
        "config": cfg.source.display().to_string(),
        "generation": loaded.generation,
        "digest": loaded.digest,
        "loaded_at_ms": loaded.at_ms,
        "loaded_ms_ago": now_ms.saturating_sub(loaded.at_ms),
        "health_generation": view.generation(),
        "zones": zones,
        "sites": sites.json(),
        "services": services,
        "targets": targets,
        "overrides": overrides,
        "changes": s.changes.borrow().json(),
        "cluster": s.gossip.as_ref().map(cluster_json),
        "lvs": s.director.borrow().as_deref().map(crate::lvs::DirectorStatus::json),
    })
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a target has its verdict, in a few words.
fn reason(
    v: &Verdict,
    view: &HealthView,
    site: &str,
    link: &str,
    addr: std::net::IpAddr,
) -> String {
    match v.source {
        Source::Override(level) => {
            let name = match level {
                Level::Site => format!("site:{site}"),
                Level::Link => format!("link:{site}/{link}"),
                Level::Addr => format!("addr:{addr}"),
            };
            let listed = view.overrides().list();
            match listed.iter().find(|o| o.target.to_string() == name) {
                Some(o) => match &o.command {
                    Some(c) if !c.reason.is_empty() => {
                        format!(
                            "{name} forced {} by {}: {}",
                            o.state.as_str(),
                            c.author,
                            c.reason
                        )
                    }
                    Some(c) => format!("{name} forced {} by {}", o.state.as_str(), c.author),
                    None => format!("{name} forced {} in the config file", o.state.as_str()),
                },
                None => format!("{name} forced"),
            }
        }
        Source::Probe => {
            // The probe that decided: a failing one when down, else any.
            let mut probes = view.ip_probes(addr);
            let first = view.ip_probes(addr).next();
            probes
                .find(|(_, st)| (st.state == Status::Down) == (v.status == Status::Down))
                .or(first)
                .map_or_else(
                    || "probe".to_owned(),
                    |(k, st)| format!("{}: {}", k.kind_name(), st.reason),
                )
        }
        other => other.as_str().to_owned(),
    }
}

/// Sites and links with the state DNS sees: a link serves when one of its addresses
/// does, a site when one of its links does; otherwise drain when something drains.
#[derive(Debug, Default)]
pub(super) struct SiteStates {
    sites: BTreeMap<String, BTreeMap<String, Vec<(String, Status)>>>,
}

impl SiteStates {
    pub(super) fn add(&mut self, site: &str, link: &str, addr: std::net::IpAddr, st: Status) {
        self.sites
            .entry(site.to_owned())
            .or_default()
            .entry(link.to_owned())
            .or_default()
            .push((addr.to_string(), st));
    }

    /// Up when one serves; otherwise full (serving, over capacity) before drain before down.
    fn combine(states: impl Iterator<Item = Status>) -> Status {
        let rank = |s: Status| match s {
            Status::Up => 3,
            Status::Full => 2,
            Status::Drain => 1,
            Status::Down | Status::Unknown => 0,
        };
        states
            .filter(|s| rank(*s) > 0)
            .max_by_key(|s| rank(*s))
            .unwrap_or(Status::Down)
    }

    pub(super) fn json(&self) -> Value {
        let sites: Vec<Value> = self
            .sites
            .iter()
            .map(|(site, links)| {
                let mut states = Vec::new();
                let links: Vec<Value> = links
                    .iter()
                    .map(|(l, addrs)| {
                        let st = Self::combine(addrs.iter().map(|a| a.1));
                        states.push(st);
                        let addrs: Vec<Value> = addrs
                            .iter()
                            .map(|(a, s)| json!({"address": a, "state": s.as_str()}))
                            .collect();
                        json!({"link": l, "state": st.as_str(), "addresses": addrs})
                    })
                    .collect();
                let state = Self::combine(states.into_iter());
                json!({"site": site, "state": state.as_str(), "links": links})
            })
            .collect();
        Value::Array(sites)
    }
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
    probes: &HealthView,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_serves_when_an_address_does_and_a_site_when_a_link_does() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let mut s = SiteStates::default();
        s.add("hq", "telecom", ip("192.0.2.1"), Status::Down);
        s.add("hq", "telecom", ip("192.0.2.2"), Status::Up);
        s.add("hq", "unicom", ip("192.0.2.3"), Status::Down);
        s.add("dr", "default", ip("192.0.2.4"), Status::Drain);
        s.add("dr", "default", ip("192.0.2.5"), Status::Down);
        s.add("us", "default", ip("192.0.2.6"), Status::Down);
        let j = s.json();
        assert_eq!(j[0]["site"], "dr");
        assert_eq!(j[0]["state"], "drain");
        assert_eq!(j[1]["site"], "hq");
        assert_eq!(j[1]["state"], "up");
        assert_eq!(j[1]["links"][0]["state"], "up");
        assert_eq!(j[1]["links"][1]["state"], "down");
        assert_eq!(j[1]["links"][0]["addresses"][0]["address"], "192.0.2.1");
        assert_eq!(j[2]["state"], "down");
    }

    #[test]
    fn a_full_address_makes_a_full_link_unless_another_serves() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let mut s = SiteStates::default();
        s.add("dr", "default", ip("192.0.2.1"), Status::Full);
        s.add("dr", "default", ip("192.0.2.2"), Status::Drain);
        s.add("hq", "default", ip("192.0.2.3"), Status::Full);
        s.add("hq", "default", ip("192.0.2.4"), Status::Up);
        let j = s.json();
        assert_eq!(
            (j[0]["state"].as_str(), j[1]["state"].as_str()),
            (Some("full"), Some("up"))
        );
        assert_eq!(j[0]["links"][0]["addresses"][0]["state"], "full");
    }
}
