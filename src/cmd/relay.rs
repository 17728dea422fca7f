//! `meridian exabgp-relay` (hidden): the child `serve` starts with backend = "exabgp"; it
//! owns ExaBGP's pipes and withdraws when Meridian goes silent (anycast::relay).

use std::time::Duration;

use clap::Args;

/// (internal) The ExaBGP relay that `serve` starts; not for use by hand.
#[derive(Debug, Args)]
pub struct ExabgpRelay {
    /// Withdraw after this long without a line from Meridian.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub watchdog: Duration,
}

impl ExabgpRelay {
    pub fn run(self) -> anyhow::Result<()> {
        let code = crate::anycast::relay::shell::run(self.watchdog)?;
        if code != 0 {
            // Meridian reads this code: ExaBGP closed the pipes.
            std::process::exit(code);
        }
        Ok(())
    }
}
