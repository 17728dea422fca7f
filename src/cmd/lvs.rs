//! `meridian lvs ...`: show the kernel's IPVS table, apply the `[lvs]` config once, or keep
//! reconciling. One type per subcommand, each with `run(self)`.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cmd::{ConfigArg, UsageError};
use crate::lvs::{self, HealthView, Ipvs, Reconciler, VipState};

/// Manage the kernel's IPVS table (LVS director).
#[derive(Debug, Args)]
pub struct Lvs {
    #[command(subcommand)]
    pub command: LvsCommand,
}

#[derive(Debug, Subcommand)]
pub enum LvsCommand {
    /// Print the kernel's IPVS table, like `ipvsadm -Ln`.
    Show(Show),
    /// Reconcile the kernel once against `[lvs]`, print the operations, exit.
    Apply(Apply),
    /// Keep reconciling against `[lvs]`: at start and every `resync` (until SIGINT/SIGTERM).
    Run(RunLoop),
}

impl Lvs {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            LvsCommand::Show(c) => c.run(),
            LvsCommand::Apply(c) => c.run(),
            LvsCommand::Run(c) => c.run(),
        }
    }
}

#[derive(Debug, Args)]
pub struct Show {
    /// Packet and byte counters instead of weights and connections.
    #[arg(long)]
    pub stats: bool,
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Show {
    pub fn run(self) -> anyhow::Result<()> {
        let mut ipvs = Ipvs::open()?;
        let info = ipvs.info()?;
        let table = ipvs.dump()?;
        let text = if self.json {
            let mut s = serde_json::to_string_pretty(&lvs::show::json(&info, &table, self.stats))?;
            s.push('\n');
            s
        } else {
            lvs::show::text(&info, &table, self.stats)
        };
        std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing to standard output")
    }
}

fn load_lvs(cfg: &ConfigArg) -> anyhow::Result<crate::config::Lvs> {
    let path = cfg.path();
    let config = crate::config::load(&path)?;
    config
        .lvs
        .ok_or_else(|| UsageError(format!("{}: no [lvs] section", path.display())).into())
}

#[derive(Debug, Args)]
pub struct Apply {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only print the operations a reconcile would send.
    #[arg(long)]
    pub dry_run: bool,
}

impl Apply {
    pub fn run(self) -> anyhow::Result<()> {
        let lvs = load_lvs(&self.config)?;
        let mut rec = Reconciler::new(Ipvs::open()?);
        let health = HealthView::new();
        let mut out = std::io::stdout().lock();
        if self.dry_run {
            let (plan, _) = rec.plan(&lvs, &health)?;
            for op in &plan.ops {
                writeln!(out, "{op}")?;
            }
            report_unmanaged(&plan.unmanaged);
            return Ok(());
        }
        let report = rec.reconcile(&lvs, &health)?;
        for op in &report.ops {
            writeln!(out, "{op}")?;
        }
        report_unmanaged(&report.unmanaged);
        eprintln!(
            "lvs apply: {} operation(s) applied, {} failed, in {:.2} ms (dump {:.2} ms)",
            report.applied,
            report.errors.len(),
            report.elapsed.as_secs_f64() * 1e3,
            report.dump.as_secs_f64() * 1e3,
        );
        if let Some(first) = report.errors.first() {
            for e in &report.errors {
                eprintln!("error: {e}");
            }
            anyhow::bail!(
                "{} IPVS operation(s) failed, first: {first}",
                report.errors.len()
            );
        }
        Ok(())
    }
}

fn report_unmanaged(keys: &[crate::config::VirtualKey]) {
    for k in keys {
        eprintln!("left alone (not in the config): {}", lvs::key_display(k));
    }
}

#[derive(Debug, Args)]
pub struct RunLoop {
    #[command(flatten)]
    pub config: ConfigArg,
}

impl RunLoop {
    pub fn run(self) -> anyhow::Result<()> {
        let path = self.config.path();
        let lvs = load_lvs(&self.config)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        rt.block_on(async move {
            let (config_tx, config_rx) = watch::channel(Arc::new(lvs));
            // Health monitors are not wired yet: every real server counts as up.
            let (_health_tx, health_rx) = watch::channel(HealthView::new());
            let (vip_tx, _vip_rx) = watch::channel(VipState::default());
            let shutdown = CancellationToken::new();
            let director = tokio::spawn(lvs::run(config_rx, health_rx, vip_tx, shutdown.clone()));
            let signals = tokio::spawn(async move {
                signal_loop(&path, &config_tx).await;
                shutdown.cancel();
            });
            let result = director.await.context("the director task panicked")?;
            signals.abort();
            result.map_err(anyhow::Error::from)
        })
    }
}

/// SIGHUP reloads the policy file (a bad file keeps the running config); SIGINT or SIGTERM
/// returns.
async fn signal_loop(path: &std::path::Path, config: &watch::Sender<Arc<crate::config::Lvs>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(h)) => (t, h),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM/SIGHUP; only SIGINT stops");
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for SIGINT");
            }
            return;
        }
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            r = tokio::signal::ctrl_c() => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "cannot listen for SIGINT");
                }
                return;
            }
            _ = hup.recv() => match crate::config::load(path) {
                Ok(c) => match c.lvs {
                    Some(l) => {
                        tracing::info!(path = %path.display(), "configuration reloaded");
                        config.send_replace(Arc::new(l));
                    }
                    None => tracing::error!(path = %path.display(), "reload: no [lvs] section; keeping the running configuration"),
                },
                Err(e) => tracing::error!(error = %e, "reload failed; keeping the running configuration"),
            },
        }
    }
}
