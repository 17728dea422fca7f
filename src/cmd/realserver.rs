//! `meridian realserver up|down|--check`: prepare this host as a DR/TUN real server of the
//! `[lvs]` services that list one of its addresses, undo that, or report drift.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cmd::{ConfigArg, UsageError};
use crate::realserver::{self, Change, host, rtnl::Rtnl};

/// Prepare this host as a real server (VIPs on lo or tunl0, ARP and rp_filter settings).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RealServer {
    #[command(subcommand)]
    pub command: Option<RealServerCommand>,
    /// Report what differs from what `up` would set, change nothing (exit 1 on drift).
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Where `up` records what it changed, for `down`.
    #[arg(long, global = true, default_value = host::DEFAULT_RECORD)]
    pub record: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum RealServerCommand {
    /// Put the VIPs in place and set the sysctls; does nothing that is already so.
    Up,
    /// Remove what `up` added and put back the values it replaced.
    Down,
}

/// Exit 1 without another message: the drift was printed.
#[derive(Debug, thiserror::Error)]
#[error("{0} difference(s) from the configuration")]
pub struct Drift(pub usize);

impl RealServer {
    pub fn run(self) -> anyhow::Result<()> {
        let path = self.config.path();
        let config = crate::config::load(&path)?;
        let lvs = config
            .lvs
            .ok_or_else(|| UsageError(format!("{}: no [lvs] section", path.display())))?;
        let mut rt = Rtnl::open().context("opening rtnetlink")?;
        let (seen, local) = host::observe(&mut rt)?;
        let want = realserver::wanted(&lvs, &local);
        match (self.command, self.check) {
            (None, false) => Err(UsageError(
                "say `realserver up`, `realserver down` or `realserver --check`".into(),
            )
            .into()),
            (None, true) => {
                let drift = realserver::plan(&want, &seen);
                describe(&want);
                for c in &drift {
                    say(format!("drift: {c}"));
                }
                if drift.is_empty() {
                    say("in sync".into());
                    Ok(())
                } else {
                    Err(Drift(drift.len()).into())
                }
            }
            (Some(RealServerCommand::Up), _) => {
                if want.addrs.is_empty() {
                    return Err(UsageError(format!(
                        "{}: no DR or TUN real server of [lvs] has an address of this host ({})",
                        path.display(),
                        local
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" ")
                    ))
                    .into());
                }
                describe(&want);
                let changes = realserver::plan(&want, &seen);
                run_changes(&mut rt, &self.record, changes, false)
            }
            (Some(RealServerCommand::Down), _) => {
                let record = host::load_record(&self.record)?;
                let changes = realserver::undo(&record, &seen);
                run_changes(&mut rt, &self.record, changes, true)
            }
        }
    }
}

/// One line on standard output; a closed pipe (`| grep -q`) is not worth a panic.
fn say(line: String) {
    use std::io::Write;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        tracing::debug!(error = %e, "standard output closed");
    }
}

fn describe(want: &realserver::Want) {
    for (key, real, fwd) in &want.services {
        let how = match fwd {
            crate::config::Forward::Dr => "dr: VIP on lo",
            crate::config::Forward::Tun => "tun: VIP on tunl0",
            crate::config::Forward::Nat => "nat",
        };
        say(format!(
            "{} -> {real} ({how})",
            crate::lvs::key_display(key)
        ));
    }
}

/// Apply `changes` and print each that was made. `up` adds what it made to the record; a
/// complete `down` empties it (a partial one keeps it, so running `down` again finishes).
fn run_changes(
    rt: &mut Rtnl,
    record_path: &std::path::Path,
    changes: Vec<Change>,
    down: bool,
) -> anyhow::Result<()> {
    let mut record = host::load_record(record_path)?;
    let result = host::apply(rt, &changes);
    let done = match &result {
        Ok(()) => &changes[..],
        Err((i, _)) => &changes[..*i],
    };
    for c in done {
        say(c.to_string());
    }
    if changes.is_empty() {
        say("nothing to change".into());
    }
    if !down {
        record.note(done);
        host::save_record(record_path, &record)?;
    } else if result.is_ok() {
        host::save_record(record_path, &realserver::Record::default())?;
    }
    result.map_err(|(_, e)| e.into())
}
