//! What `/status` (and so `meridian status` and `explain`) shows of anycast: per prefix the
//! state Meridian wants, what the speaker confirmed, why, and each condition.

use serde_json::{Value, json};

use super::decide::Route;

/// One prefix as `/status` shows it.
#[derive(Debug, Clone)]
pub struct PrefixStatus {
    pub prefix: String,
    pub want: Route,
    /// What the speaker confirmed (None: not yet, or the last attempt failed).
    pub applied: Option<Route>,
    pub why: String,
    pub healthy: bool,
    pub conditions: Vec<(String, Option<String>)>,
    pub changed_ms_ago: u64,
    pub error: Option<String>,
}

/// What `/status` shows of anycast.
#[derive(Debug, Clone, Default)]
pub struct AnycastStatus {
    pub backend: String,
    pub stopping: bool,
    pub prefixes: Vec<PrefixStatus>,
    pub bfd: Option<(String, u64, u64)>,
}

impl AnycastStatus {
    pub fn to_json(&self) -> Value {
        let prefixes: Vec<Value> = self
            .prefixes
            .iter()
            .map(|p| {
                json!({
                    "prefix": p.prefix,
                    "state": p.want.as_str(),
                    "applied": p.applied.map(Route::as_str),
                    "why": p.why,
                    "healthy": p.healthy,
                    "conditions": p.conditions.iter().map(|(c, why)| json!({"condition": c, "ok": why.is_none(), "why": why})).collect::<Vec<_>>(),
                    "changed_ms_ago": p.changed_ms_ago,
                    "error": p.error,
                })
            })
            .collect();
        json!({
            "backend": self.backend,
            "stopping": self.stopping,
            "prefixes": prefixes,
            "bfd": self.bfd.as_ref().map(|(addr, sessions, up)| json!({"listen": addr, "sessions": sessions, "up": up})),
        })
    }
}
