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
        let cfg = crate::config::load(&path)?;
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
