//! `meridian status`: what the running server thinks, read from its admin endpoint and
//! printed as tables: the configuration in force; every site, link and address with its
//! state, why, and its last and next probe; each service's current answer per route; the
//! overrides; the director's virtual and real servers; the cluster's peers; the anycast
//! prefixes. `--json` prints the whole status document instead.
//!
//! Exit 0 when the server answered, 1 when it cannot be reached, 2 when the policy file has
//! no `[server] admin`.

use clap::Args;
use serde_json::Value;

use super::ConfigArg;
use super::admin_client::AdminClient;

/// What the running server thinks (tables; the whole document with --json).
#[derive(Debug, Args)]
pub struct Status {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the whole status document as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Status {
    pub fn run(self) -> anyhow::Result<()> {
        let cfg = crate::config::load(&self.config.path())?;
        let status = AdminClient::new(&cfg, std::time::Duration::from_secs(5))?.status()?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print!("{}", text(&status));
        }
        Ok(())
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// A duration in milliseconds, short: `450ms`, `2.5s`, `3m20s`, `5h10m`, `2d3h`.
pub fn short(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms}ms"),
        1..=59 => format!("{}.{}s", secs, (ms % 1000) / 100),
        60..=3599 => format!("{}m{}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// Rows as columns padded to their widest cell, two spaces apart, a header first.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                let pad = widths.get(i).copied().unwrap_or(0);
                out.push_str(&format!("{c:<pad$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn list(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// The whole document as text.
pub fn text(st: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "config {}  generation {}  digest {}  loaded {} ago\n",
        s(&st["config"]),
        s(&st["generation"]),
        s(&st["digest"]),
        st["loaded_ms_ago"].as_u64().map_or("-".into(), short)
    ));
    let zones: Vec<String> = list(&st["zones"])
        .map(|z| format!("{} ({} names)", s(&z["zone"]), s(&z["names"])))
        .collect();
    let zones = if zones.is_empty() {
        "none".into()
    } else {
        zones.join(", ")
    };
    out.push_str(&format!("zones: {zones}\n"));
    out.push('\n');
    out.push_str(&targets(st));
    out.push('\n');
    out.push_str(&services(st));
    out.push('\n');
    out.push_str("overrides:");
    let overrides: Vec<String> = list(&st["overrides"])
        .map(super::overrides::list_line)
        .collect();
    if overrides.is_empty() {
        out.push_str(" none\n");
    } else {
        out.push('\n');
        for o in overrides {
            out.push_str(&format!("  {o}\n"));
        }
    }
    if !st["lvs"].is_null() {
        out.push('\n');
        out.push_str(&lvs(&st["lvs"]));
    }
    if !st["cluster"].is_null() {
        out.push('\n');
        out.push_str(&cluster(&st["cluster"]));
    }
    out.push('\n');
    if st["anycast"].is_null() {
        out.push_str("anycast: not configured\n");
    } else {
        out.push_str(&anycast_text(&st["anycast"]));
    }
    out
}

/// Sites × links × addresses: the state DNS uses, where it comes from, the probes.
fn targets(st: &Value) -> String {
    let link_state = |site: &str, link: &str| -> String {
        list(&st["sites"])
            .find(|x| x["site"] == site)
            .and_then(|x| list(&x["links"]).find(|l| l["link"] == link))
            .map_or("-".into(), |l| s(&l["state"]))
    };
    let site_state = |site: &str| -> String {
        list(&st["sites"])
            .find(|x| x["site"] == site)
            .map_or("-".into(), |x| s(&x["state"]))
    };
    let rows: Vec<Vec<String>> = list(&st["targets"])
        .map(|t| {
            let (site, link) = (s(&t["site"]), s(&t["link"]));
            let last = list(&t["probes"])
                .filter_map(|p| p["last_probe_ms_ago"].as_u64())
                .min();
            let next = list(&t["probes"])
                .filter_map(|p| p["next_probe_in_ms"].as_u64())
                .min();
            vec![
                format!("{site} ({})", site_state(&site)),
                format!("{link} ({})", link_state(&site, &link)),
                s(&t["address"]),
                s(&t["state"]),
                s(&t["source"]),
                last.map_or("-".into(), |ms| format!("{} ago", short(ms))),
                next.map_or("-".into(), |ms| format!("in {}", short(ms))),
                s(&t["reason"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "sites: none\n".into();
    }
    table(
        &[
            "SITE",
            "LINK",
            "ADDRESS",
            "STATE",
            "FROM",
            "LAST PROBE",
            "NEXT",
            "WHY",
        ],
        &rows,
    )
}

/// Each service's answer per plan (route rules, sites in order, client ISP).
fn services(st: &Value) -> String {
    let addrs = |v: &Value| -> String {
        let l: Vec<String> = list(v).map(s).collect();
        if l.is_empty() {
            "-".into()
        } else {
            l.join(" ")
        }
    };
    let mut rows = Vec::new();
    for svc in list(&st["services"]) {
        let answers: Vec<&Value> = list(&svc["answers"]).collect();
        if answers.is_empty() {
            rows.push(vec![
                s(&svc["name"]),
                s(&svc["mode"]),
                "-".into(),
                s(&svc["sites"]),
                "-".into(),
                "-".into(),
                s(&svc["ttl"]),
                "-".into(),
            ]);
        }
        for a in answers {
            let routes: Vec<String> = list(&a["routes"]).map(s).collect();
            let mut route = routes.join(" | ");
            if let Some(isp) = a["isp"].as_str() {
                route.push_str(&format!(" (isp {isp})"));
            }
            let sites: Vec<String> = list(&a["sites"]).map(s).collect();
            rows.push(vec![
                s(&svc["name"]),
                s(&a["mode"]),
                route,
                sites.join(" "),
                addrs(&a["a"]),
                addrs(&a["aaaa"]),
                s(&a["ttl"]),
                s(&a["why"]),
            ]);
        }
        if let (Some(total), Some(shown)) = (svc["plans"].as_u64(), svc["answers"].as_array())
            && total > shown.len() as u64
        {
            rows.push(vec![
                s(&svc["name"]),
                String::new(),
                format!("... {} more plans (--json)", total - shown.len() as u64),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    if rows.is_empty() {
        return "services: none\n".into();
    }
    table(
        &[
            "SERVICE", "MODE", "ROUTE", "SITES", "A", "AAAA", "TTL", "WHY",
        ],
        &rows,
    )
}

/// The director: each virtual service with its load, each real server with its weights,
/// connections and rates.
fn lvs(l: &Value) -> String {
    let mut rows = Vec::new();
    for svc in list(&l["services"]) {
        let load = &svc["load"];
        rows.push(vec![
            s(&svc["service"]),
            if svc["up"] == true {
                "up".into()
            } else {
                "DOWN".into()
            },
            format!(
                "{}/{}",
                s(&load["healthy_weight"]),
                s(&load["total_weight"])
            ),
            s(&load["active_conns"]),
            "-".into(),
            s(&svc["stats"]["cps"]),
            s(&svc["stats"]["inbps"]),
        ]);
        for r in list(&svc["reals"]) {
            rows.push(vec![
                format!("  -> {}", s(&r["addr"])),
                s(&r["state"]),
                format!("{}/{}", s(&r["weight"]), s(&r["configured_weight"])),
                s(&r["active_conns"]),
                s(&r["inactive_conns"]),
                s(&r["stats"]["cps"]),
                s(&r["stats"]["inbps"]),
            ]);
        }
    }
    if rows.is_empty() {
        return "lvs: no virtual services\n".into();
    }
    table(
        &[
            "LVS SERVICE / REAL",
            "STATE",
            "WEIGHT",
            "ACTIVE",
            "INACTIVE",
            "CONN/S",
            "IN B/S",
        ],
        &rows,
    )
}

fn cluster(c: &Value) -> String {
    let mut out = format!(
        "cluster: this node {} ({}), digest {}\n",
        s(&c["node"]),
        s(&c["role"]),
        s(&c["digest"])
    );
    let rows: Vec<Vec<String>> = list(&c["peers"])
        .map(|p| {
            vec![
                s(&p["node"]),
                s(&p["liveness"]),
                p["last_heard_ms"]
                    .as_u64()
                    .map_or("-".into(), |ms| format!("{} ago", short(ms))),
                s(&p["role"]),
                s(&p["digest"]),
                if p["divergent"] == true {
                    "DIFFERS".into()
                } else {
                    "same".into()
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("  no peers\n");
    } else {
        out.push_str(&table(
            &["PEER", "STATE", "HEARD", "ROLE", "DIGEST", "CONFIG"],
            &rows,
        ));
    }
    out
}

/// The anycast section as text: one block per prefix.
pub fn anycast_text(a: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let mut out = format!("anycast via {}", s(&a["backend"]));
    if a["stopping"].as_bool() == Some(true) {
        out.push_str(" (stopping)");
    }
    out.push('\n');
    if let Some(b) = a["bfd"].as_object() {
        out.push_str(&format!(
            "  BFD on {}: {} of {} sessions up\n",
            b.get("listen").and_then(|v| v.as_str()).unwrap_or("-"),
            b.get("up").and_then(serde_json::Value::as_u64).unwrap_or(0),
            b.get("sessions")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        ));
    }
    for p in a["prefixes"].as_array().into_iter().flatten() {
        let applied = p["applied"].as_str().unwrap_or("not confirmed");
        out.push_str(&format!(
            "  {:<20} {:<10} (speaker: {applied}) why: {}\n",
            s(&p["prefix"]),
            s(&p["state"]),
            s(&p["why"])
        ));
        for c in p["conditions"].as_array().into_iter().flatten() {
            let verdict = if c["ok"].as_bool() == Some(true) {
                "ok".to_string()
            } else {
                format!("FAILS: {}", s(&c["why"]))
            };
            out.push_str(&format!("    {:<24} {verdict}\n", s(&c["condition"])));
        }
        if let Some(e) = p["error"].as_str() {
            out.push_str(&format!("    speaker error: {e}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
