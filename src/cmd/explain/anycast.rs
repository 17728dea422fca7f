//! `explain`'s anycast section: the running server's `/status` (asked once for health and
//! anycast alike), or the configured prefixes and why their state is not known.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::config::Config;

/// The running server's `/status`, or why it was not asked or did not answer.
pub(super) type LiveStatus = Result<(SocketAddr, Value), String>;

pub(super) fn live_status(cfg: &Config, offline: bool) -> LiveStatus {
    if offline {
        return Err("--offline: the running server was not asked".into());
    }
    let addr = cfg.server.admin.ok_or_else(|| {
        "[server] admin is not set, so the running server cannot be asked".to_string()
    })?;
    crate::cmd::admin_client::status(cfg)
        .map(|body| (addr, body))
        .map_err(|e| crate::errtext::chain(e.as_ref()))
}

/// Anycast as JSON: the server's own section when it answered, else the configured
/// prefixes and why their state is not known.
pub(super) fn anycast_json(cfg: &Config, live: &LiveStatus) -> Value {
    let Some(a) = &cfg.anycast else {
        return Value::Null;
    };
    match live {
        Ok((addr, body)) if !body["anycast"].is_null() => json!({
            "source": format!("live: admin endpoint {addr}"),
            "status": body["anycast"],
        }),
        Ok((addr, _)) => json!({
            "source": format!("admin endpoint {addr} runs without [anycast] (restart needed?)"),
            "configured": configured_prefixes(a),
        }),
        Err(why) => json!({
            "source": format!("not known: {why}"),
            "configured": configured_prefixes(a),
        }),
    }
}

fn configured_prefixes(a: &crate::config::Anycast) -> Vec<Value> {
    a.prefixes
        .iter()
        .map(|p| {
            json!({
                "prefix": p.prefix.to_string(),
                "when": p.when.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Anycast for a person: what `meridian status` prints, or the configured prefixes with
/// the reason their state is not known.
pub(super) fn anycast_human(cfg: &Config, live: &LiveStatus) -> String {
    let Some(a) = &cfg.anycast else {
        return String::new();
    };
    let unknown = |why: String| {
        let mut o = format!("Anycast:  state not known: {why}\n");
        for p in &a.prefixes {
            let when: Vec<String> = p.when.iter().map(ToString::to_string).collect();
            o.push_str(&format!(
                "  {:<20} when {}\n",
                p.prefix.to_string(),
                when.join(", ")
            ));
        }
        o
    };
    match live {
        Ok((addr, body)) if !body["anycast"].is_null() => format!(
            "Anycast:  live from the admin endpoint {addr}\n{}",
            crate::cmd::status::anycast_text(&body["anycast"])
        ),
        Ok((addr, _)) => unknown(format!(
            "the server on {addr} runs without [anycast] (it takes effect at its next start)"
        )),
        Err(why) => unknown(why.clone()),
    }
}
