//! `meridian check`: validate everything a `serve` would load, and report every problem.

use clap::Args;

use super::ConfigArg;

/// Validate the configuration, zones, databases and CIDR files.
#[derive(Debug, Args)]
pub struct Check {
    #[command(flatten)]
    pub config: ConfigArg,
}

impl Check {
    pub fn run(self) -> anyhow::Result<()> {
        let path = self.config.path();
        let crate::serve::Checked {
            config: cfg,
            snapshot,
            zone_errors,
        } = crate::serve::check(&path)?;
        // The process exits next: freeing every record one by one would be a fifth of the
        // time `check` takes on a large zone, for nothing.
        std::mem::forget(snapshot);
        // `serve` starts past an unusable state file (and sets it aside); `check` says so.
        if let Some(state) = &cfg.health.state_file
            && let Err(e) = crate::health::statefile::StateFile::load(state)
        {
            return Err(super::UsageError(format!("[health] state_file {e}")).into());
        }
        if !zone_errors.is_empty() {
            for e in &zone_errors {
                eprintln!("{e}");
            }
            return Err(super::UsageError(format!(
                "{}: {} zone file(s) refused",
                path.display(),
                zone_errors.len()
            ))
            .into());
        }
        println!(
            "{}: ok ({} zone files, {} services, {} sites, {} ISPs{})",
            path.display(),
            cfg.server.zone_files.len(),
            cfg.services.len(),
            cfg.sites.len(),
            cfg.isps.len(),
            if cfg.lvs.is_some() { ", lvs" } else { "" }
        );
        Ok(())
    }
}
