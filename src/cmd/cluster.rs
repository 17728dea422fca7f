//! `meridian cluster`: tools for running several nodes as one cluster. `cluster keygen FILE`
//! writes a new shared key (32 random bytes as hex, mode 0600) and never replaces a file.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::UsageError;
use crate::cluster::{ClusterKey, KeyError};

/// Cluster tools.
#[derive(Debug, Args)]
pub struct Cluster {
    #[command(subcommand)]
    pub command: ClusterCommand,
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
            ClusterCommand::Keygen(c) => c.run(),
        }
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
