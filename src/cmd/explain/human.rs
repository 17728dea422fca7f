//! `explain`'s text for people: the client's attributes, the policy's walk (rules, sites,
//! links, addresses with their health and, with `[cluster]`, each vantage point's vote), the
//! answer, its TTL and ECS scope.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use serde_json::Value;

use super::{Explain, ecs_scope};
use crate::policy::Explanation;

fn usable(yes: bool) -> &'static str {
    if yes { "up" } else { "DOWN" }
}

pub(super) fn human(
    e: &Explain,
    rtype: RecordType,
    source: &str,
    x: Option<&Explanation>,
    vantage: &HashMap<IpAddr, Value>,
    resp: &Message,
) -> String {
    let mut o = format!("{} asks {} {}\n", e.client, e.name, rtype);
    match x {
        None => o.push_str(
            "Not a service name (or not A/AAAA): the answer comes from the zone files.\n",
        ),
        Some(x) => {
            let a = &x.attributes;
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            o.push_str(&format!(
                "Client:   continent {}, country {}, subdivision {}, ASN {}{}, ISP {}{}\n          (the same for the whole /{} around it)\n",
                opt(&a.continent),
                opt(&a.country),
                opt(&a.subdivision),
                a.asn.map_or("-".into(), |n| n.to_string()),
                a.as_org.as_ref().map_or(String::new(), |s| format!(" ({s})")),
                opt(&a.isp),
                a.location.map_or(String::new(), |[la, lo]| format!(", at {la:.2},{lo:.2}")),
                a.attributes_prefix,
            ));
            o.push_str(&format!(
                "Service:  {}, mode {}, spill {}, link fallback {}\n",
                x.service, x.mode, x.spill, x.link_fallback
            ));
            o.push_str(&format!(
                "TTL:      {} ({}{})\n",
                x.ttl,
                if x.ttl_reason.is_degraded() {
                    "ttl_degraded: "
                } else {
                    ""
                },
                x.ttl_reason.as_str()
            ));
            o.push_str(&format!("Route:    {}\n", x.why));
            o.push_str(&format!(
                "Link:     {}\n",
                x.link_isp.as_ref().map_or(
                    "no ISP-specific link applies: each site's `default` link".into(),
                    |i| format!("the `{i}` link where a site has one and it is up, else `default`")
                )
            ));
            o.push_str(&format!(
                "Health:   {source}\nSites, in the order the mode considers them:\n"
            ));
            for (n, s) in x.sites.iter().enumerate() {
                o.push_str(&format!(
                    "  {}. {:<10} {:<5} weight {:<4} capacity {:<4}{}{}{}\n",
                    n + 1,
                    s.name,
                    usable(s.usable),
                    s.weight,
                    s.capacity,
                    s.distance_km
                        .map_or(String::new(), |d| format!(" {d:.0} km")),
                    s.link
                        .as_ref()
                        .map_or(" no usable link".to_string(), |l| format!(" -> link {l}")),
                    if s.selected { "   [SELECTED]" } else { "" }
                ));
                let chain: Vec<String> = s
                    .chain
                    .iter()
                    .map(|c| {
                        let role = c.role.as_str();
                        match c.result {
                            "skipped" => format!("{} ({role}) skipped, {}", c.link, c.why),
                            r => format!("{} ({role}) {r}", c.link),
                        }
                    })
                    .collect();
                o.push_str(&format!("       chain  {}\n", chain.join(" -> ")));
                for l in &s.links {
                    let addrs: Vec<String> = l
                        .addrs
                        .iter()
                        .map(|a| format!("{} {} ({})", a.addr, a.status, a.source))
                        .collect();
                    o.push_str(&format!(
                        "       link {:<10} {:<5} {}\n",
                        l.name,
                        usable(l.usable),
                        addrs.join(", ")
                    ));
                    for a in &l.addrs {
                        if let Some(checks) = vantage.get(&a.addr) {
                            o.push_str(&vantage_lines(checks));
                        }
                    }
                }
            }
            if x.fallback {
                o.push_str("Nothing was healthy: the service's `fallback` gave the answer.\n");
            }
        }
    }
    o.push_str(&format!(
        "Answer:   {} {}\n",
        resp.metadata.response_code,
        if resp.metadata.authoritative {
            "(authoritative)"
        } else {
            ""
        }
    ));
    for r in &resp.answers {
        o.push_str(&format!("          {r}\n"));
    }
    for r in &resp.authorities {
        o.push_str(&format!("  auth    {r}\n"));
    }
    match ecs_scope(resp) {
        Some(s) => o.push_str(&format!(
            "ECS:      a resolver sending this client's subnet gets SCOPE /{s}\n"
        )),
        None => o.push_str("ECS:      (no ECS in the answer)\n"),
    }
    o
}

/// What each node sees of one address (its `/status` vantage rows), for a person: the rule's
/// count, then every vote and every observer left out and why.
fn vantage_lines(checks: &Value) -> String {
    let mut o = String::new();
    for c in checks.as_array().into_iter().flatten() {
        let probe: Vec<&str> = c["probe"]
            .as_str()
            .unwrap_or("?")
            .split(' ')
            .take(2)
            .collect();
        let votes = c["votes"].as_array().map_or(0, Vec::len);
        let basis = c["basis"].as_str().unwrap_or("");
        let rule = match basis {
            "Quorum" => format!(
                "{} of {votes} fresh observers see it down, {} needed: {}",
                c["down"],
                c["needed"],
                c["verdict"].as_str().unwrap_or("?")
            ),
            "OwnOnly" => "no fresh peer: this node's own probe decides".to_string(),
            "NoObservers" => "no fresh observation".to_string(),
            other => other.to_string(),
        };
        o.push_str(&format!("         vantage {}: {rule}\n", probe.join(" ")));
        let mut seen: Vec<String> = Vec::new();
        for v in c["votes"].as_array().into_iter().flatten() {
            let who = v["node"].as_str().unwrap_or("?");
            let state = v["state"].as_str().unwrap_or("?");
            seen.push(match v["age_ms"].as_u64() {
                None => format!("{who} {state} (this node)"),
                Some(ms) => format!("{who} {state} ({:.1} s old)", ms as f64 / 1000.0),
            });
        }
        for i in c["ignored"].as_array().into_iter().flatten() {
            seen.push(format!(
                "{} ignored: {}",
                i["node"].as_str().unwrap_or("?"),
                i["why"].as_str().unwrap_or("?")
            ));
        }
        o.push_str(&format!("           {}\n", seen.join("; ")));
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn vantage_lines_name_every_vote_and_every_observer_left_out() {
        let checks = serde_json::json!([{
            "probe": "tcp 192.0.2.10:80 1a2b3c4d",
            "verdict": "up", "basis": "Quorum", "down": 1, "needed": 2,
            "votes": [
                {"node": "c", "state": "down", "age_ms": null},
                {"node": "a", "state": "up", "age_ms": 1250},
                {"node": "b", "state": "up", "age_ms": 40}
            ],
            "ignored": [{"node": "d", "why": "Dead"}]
        }]);
        assert_eq!(
            super::vantage_lines(&checks),
            "         vantage tcp 192.0.2.10:80: 1 of 3 fresh observers see it down, 2 needed: up\n           c down (this node); a up (1.2 s old); b up (0.0 s old); d ignored: Dead\n"
        );
    }
}
