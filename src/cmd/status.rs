//! `meridian status`: what the running server thinks, read from its admin endpoint; for now
//! the anycast prefixes (state, why, each condition) and the BFD sessions, or the whole
//! status document with `--json`.

use clap::Args;

use super::{ConfigArg, UsageError};

/// What the running server thinks (anycast prefixes; the whole document with --json).
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
        let addr = cfg.server.admin.ok_or_else(|| {
            UsageError(format!(
                "{}: [server] admin is not set, so the running server cannot be asked",
                cfg.source.display()
            ))
        })?;
        let status = super::admin_status(addr)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
            return Ok(());
        }
        println!(
            "config {} (generation {})",
            status["config"].as_str().unwrap_or("-"),
            status["generation"]
        );
        let a = &status["anycast"];
        if a.is_null() {
            println!("anycast: not configured");
            return Ok(());
        }
        print!("{}", anycast_text(a));
        Ok(())
    }
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
