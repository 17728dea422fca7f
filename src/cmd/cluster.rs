//! `meridian cluster`: the peers the running node sees (alive, suspect or dead, last heard,
//! configuration digest, role), read from its admin endpoint; `cluster keygen FILE` writes a
//! new shared key (32 random bytes as hex, mode 0600) and never replaces a file.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{ConfigArg, UsageError};
use crate::cluster::{ClusterKey, KeyError};

/// The cluster's peers as the running node sees them, and cluster tools.
#[derive(Debug, Args)]
pub struct Cluster {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the peers as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<ClusterCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Write a new shared cluster key to FILE (mode 0600); copy it to every node.
    Keygen(Keygen),
}

#[derive(Debug, Args)]
pub struct Keygen {
    /// The key file to create (must not exist).
    pub file: PathBuf,
}

impl Cluster {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Some(ClusterCommand::Keygen(c)) => c.run(),
            None => self.peers(),
        }
    }

    fn peers(&self) -> anyhow::Result<()> {
        let cfg = crate::config::load(&self.config.path())?;
        let client =
            super::admin_client::AdminClient::new(&cfg, std::time::Duration::from_secs(5))?;
        let addr = client.addr();
        let status = client.status()?;
        let c = &status["cluster"];
        if c.is_null() {
            return Err(UsageError(format!("the node at {addr} runs without [cluster]")).into());
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(c)?);
            return Ok(());
        }
        let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
        println!(
            "this node: {} ({}, gossip {}), digest {}",
            s(&c["node"]),
            s(&c["role"]),
            s(&c["gossip"]),
            s(&c["digest"])
        );
        println!(
            "{:<16} {:<22} {:<8} {:>10}  {:<9} {:<17} config",
            "peer", "gossip", "state", "heard", "role", "digest"
        );
        for p in c["peers"].as_array().into_iter().flatten() {
            let heard = p["last_heard_ms"]
                .as_u64()
                .map_or("-".into(), |ms| format!("{:.1} s ago", ms as f64 / 1000.0));
            let same = if p["divergent"].as_bool() == Some(true) {
                "DIFFERS"
            } else {
                "same"
            };
            println!(
                "{:<16} {:<22} {:<8} {:>10}  {:<9} {:<17} {same}",
                s(&p["node"]),
                s(&p["gossip"]),
                s(&p["liveness"]),
                heard,
                s(&p["role"]),
                s(&p["digest"])
            );
        }
        println!(
            "rejected packets: {}, malformed values: {}",
            c["rejected_packets"], c["junk_values"]
        );
        Ok(())
    }
}

impl Keygen {
    pub fn run(self) -> anyhow::Result<()> {
        match ClusterKey::generate().write_new(&self.file) {
            Ok(()) => {
                println!(
                    "{}: new cluster key written (mode 0600); copy it to every node and name it in [cluster] key_file",
                    self.file.display()
                );
                Ok(())
            }
            Err(e @ KeyError::Exists { .. }) => Err(UsageError(e.to_string()).into()),
            Err(e) => Err(e.into()),
        }
    }
}
