//! `meridian override ...`: set, clear or list health overrides on the running server through
//! its admin endpoint (`[server] admin`), authenticated with the token file it created.

use clap::{Args, Subcommand};

use reqwest::Method;

use super::ConfigArg;
use super::admin_client::AdminClient;

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
    Set {
        target: String,
        state: String,
        /// Why (shown by `override list`, `/status` and every node of a cluster).
        #[arg(long, default_value = "")]
        reason: String,
        /// Who (default: $USER@hostname).
        #[arg(long)]
        author: Option<String>,
        /// Let it expire after this long (e.g. 30m, 2h).
        #[arg(long = "for", value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// Remove the override on TARGET; health checks decide again.
    Clear {
        target: String,
        /// Who (default: $USER@hostname).
        #[arg(long)]
        author: Option<String>,
    },
}

impl Override {
    pub fn run(self) -> anyhow::Result<()> {
        let cfg = crate::config::load(&self.config.path())?;
        let client = AdminClient::new(&cfg, std::time::Duration::from_secs(5))?;
        client.require_token()?;
        if matches!(self.action, Action::Set { .. }) && cfg.health.state_file.is_none() {
            eprintln!(
                "warning: {} has no [health] state_file: this override lasts until the server \
                 restarts",
                cfg.source.display()
            );
        }
        let (method, path, body) = match &self.action {
            Action::List => (Method::GET, "/overrides".to_owned(), None),
            Action::Set {
                target,
                state,
                reason,
                author,
                expires_in,
            } => {
                let author = author.clone().unwrap_or_else(default_author);
                let mut body = serde_json::json!({"target": target, "state": state,
                    "author": author, "reason": reason});
                if let Some(e) = expires_in {
                    body["expires_in"] = serde_json::Value::from(e.as_str());
                }
                (
                    Method::POST,
                    "/overrides".to_owned(),
                    Some(body.to_string()),
                )
            }
            Action::Clear { target, author } => {
                let author = author.clone().unwrap_or_else(default_author);
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("target", target)
                    .append_pair("author", &author)
                    .finish();
                (Method::DELETE, format!("/overrides?{query}"), None)
            }
        };
        let (status, body) = client.call(method, &path, body)?;
        if !status.is_success() {
            anyhow::bail!("the server refused: {status}: {}", body.trim());
        }
        let list: serde_json::Value = serde_json::from_str(&body)?;
        match list.as_array() {
            Some(items) if items.is_empty() => println!("no overrides"),
            Some(items) => {
                for o in items {
                    println!("{}", list_line(o));
                }
            }
            None => println!("{body}"),
        }
        Ok(())
    }
}

/// `$USER@hostname`, or what of it is known.
fn default_author() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{user}@{}", host.trim())
}

/// One override: target, state, where from; for run-time ones who, when, why, until when.
pub(super) fn list_line(o: &serde_json::Value) -> String {
    let s = |k: &str| o[k].as_str().unwrap_or("").to_owned();
    let mut line = format!("{:<32} {:<6}", s("target"), s("state"));
    if s("source") != "runtime" {
        line.push_str(" config file");
        return line;
    }
    let when = |k: &str| {
        o[k].as_u64().map(|ms| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
            )
            .to_string()
        })
    };
    let origin = s("origin");
    line.push_str(&format!(
        " set by {} on {} at {}",
        if s("author").is_empty() {
            "?".into()
        } else {
            s("author")
        },
        if origin.is_empty() {
            "this node".into()
        } else {
            origin
        },
        when("set_at_ms").unwrap_or_else(|| "?".into())
    ));
    if let Some(x) = when("expires_ms") {
        line.push_str(&format!(", expires {x}"));
    }
    if !s("reason").is_empty() {
        line.push_str(&format!(": {}", s("reason")));
    }
    line
}
