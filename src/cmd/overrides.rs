//! `meridian override ...`: set, clear or list health overrides on the running server through
//! its admin endpoint (`[server] admin`), authenticated with the token file it created.

use clap::{Args, Subcommand};

use super::{ConfigArg, UsageError};

/// Force a site, link or address up, down or drain on the running server.
#[derive(Debug, Args)]
pub struct Override {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Show the overrides in force.
    List,
    /// Force TARGET (site:NAME, link:SITE/LINK, addr:IP) to STATE (up, down, drain).
    Set { target: String, state: String },
    /// Remove the override on TARGET; health checks decide again.
    Clear { target: String },
}

impl Override {
    pub fn run(self) -> anyhow::Result<()> {
        let cfg = crate::config::load(&self.config.path())?;
        let addr = cfg.server.admin.ok_or_else(|| {
            UsageError(format!(
                "{}: [server] admin is not set, so the running server has no admin endpoint",
                cfg.source.display()
            ))
        })?;
        let token_file = &cfg.server.admin_token_file;
        let token = crate::serve::token::read(token_file).map_err(|e| {
            anyhow::anyhow!("cannot use the admin token: {e} (is the server running?)")
        })?;
        if matches!(self.action, Action::Set { .. }) && cfg.health.state_file.is_none() {
            eprintln!(
                "warning: {} has no [health] state_file: this override lasts until the server \
                 restarts",
                cfg.source.display()
            );
        }
        let base = format!("http://{addr}/overrides");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let body = rt.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                // plain http to a loopback endpoint: no system CA roots needed (a minimal host
                // has none, and the default verifier refuses to build without them)
                .tls_certs_only([])
                // the bearer token must never travel through `http_proxy`, even to loopback
                .no_proxy()
                .build()?;
            let req = match &self.action {
                Action::List => client.get(&base),
                Action::Set { target, state } => client
                    .post(&base)
                    .body(serde_json::json!({"target": target, "state": state}).to_string()),
                Action::Clear { target } => {
                    client.delete(format!("{base}?target={}", percent_encode(target)))
                }
            };
            let resp = req.bearer_auth(&token).send().await?;
            let status = resp.status();
            let text = resp.text().await?;
            if !status.is_success() {
                anyhow::bail!("the server refused: {status}: {}", text.trim());
            }
            Ok::<_, anyhow::Error>(text)
        })?;
        let list: serde_json::Value = serde_json::from_str(&body)?;
        match list.as_array() {
            Some(items) if items.is_empty() => println!("no overrides"),
            Some(items) => {
                for o in items {
                    println!(
                        "{:<40} {}",
                        o["target"].as_str().unwrap_or("?"),
                        o["state"].as_str().unwrap_or("?")
                    );
                }
            }
            None => println!("{body}"),
        }
        Ok(())
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
