//! `meridian serve`: run the server until SIGTERM/SIGINT (the default subcommand).

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::ConfigArg;

/// Serve DNS (and health checks, the admin endpoint, IPVS when configured).
#[derive(Debug, Args, Default)]
pub struct Serve {
    #[command(flatten)]
    pub config: ConfigArg,
}

impl Serve {
    pub fn run(self) -> anyhow::Result<()> {
        let path = self.config.path();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(crate::serve::run(&path, CancellationToken::new()))?;
        Ok(())
    }
}
