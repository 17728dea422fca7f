//! `meridian reload`: ask the running server to reload its policy file, the same as SIGHUP,
//! and print what happened: the new generation and digest, or every error of the refused
//! file (the server keeps its running configuration).
//!
//! Exit 0 when the new configuration is in force, 2 when it was refused (or a zone in it was
//! refused and keeps its previous contents), 1 when the server cannot be reached.

use std::time::Duration;

use clap::Args;

use super::admin_client::AdminClient;
use super::{ConfigArg, ConfigRefused, UsageError};
use crate::admin::routes::RELOAD_WAIT;
use crate::config::{self, ConfigError};

/// Reload the running server's policy file (like SIGHUP); print the errors when refused.
#[derive(Debug, Args)]
pub struct Reload {
    #[command(flatten)]
    pub config: ConfigArg,
}

impl Reload {
    pub fn run(self) -> anyhow::Result<()> {
        let path = self.config.path();
        let text =
            crate::files::read_text(&path, crate::files::limit::POLICY).map_err(|source| {
                ConfigError::Read {
                    path: path.clone(),
                    source,
                }
            })?;
        // A file the server will refuse still names where the server is: the server
        // reports the errors, as it sees them.
        let (addr, token_file) = match config::parse(&text, &path) {
            Ok(cfg) => match cfg.server.admin {
                Some(a) => (a, cfg.server.admin_token_file),
                None => {
                    return Err(UsageError(format!(
                        "{}: [server] admin is not set, so the running server cannot be asked; \
                         send it SIGHUP instead",
                        path.display()
                    ))
                    .into());
                }
            },
            Err(e) => config::admin_endpoint(&text, &path).ok_or(e)?,
        };
        let client = AdminClient::at(addr, &token_file, RELOAD_WAIT + Duration::from_secs(5))?;
        client.require_token()?;
        let (status, body) = client.call(reqwest::Method::POST, "/reload", None)?;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match status.as_u16() {
            200 => {
                println!(
                    "reloaded: generation {}, digest {}",
                    json["generation"],
                    json["digest"].as_str().unwrap_or("-")
                );
                let zones: Vec<&str> = json["zone_errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str())
                    .collect();
                for z in &zones {
                    eprintln!("zone refused, it keeps its previous contents: {z}");
                }
                if zones.is_empty() {
                    Ok(())
                } else {
                    Err(ConfigRefused(format!("{} zone(s) refused", zones.len())).into())
                }
            }
            422 => {
                let errors: Vec<&str> = json["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str())
                    .collect();
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!(
                    "reload refused ({} error{}); the server keeps its running configuration",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                );
                Err(ConfigRefused("reload refused".into()).into())
            }
            401 => Err(UsageError(format!(
                "the server at {addr} refused the token in {}: is it the file the server uses?",
                token_file.display()
            ))
            .into()),
            _ => anyhow::bail!("the server at {addr} answered {status}: {}", body.trim()),
        }
    }
}
