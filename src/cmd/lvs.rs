//! `meridian lvs ...`: show the kernel's IPVS table, apply the `[lvs]` config once, or keep
//! reconciling. One type per subcommand, each with `run(self)`.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cmd::{ConfigArg, UsageError};
use crate::health::RealTable;
use crate::lvs::{self, Ipvs, Reconciler};

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
    /// Show the tcp / tcpfin / udp connection timeouts, or set some of them.
    Timeouts(TimeoutsCmd),
    /// Show, start or stop the connection synchronisation daemons.
    Sync(SyncCmd),
}

impl Lvs {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            LvsCommand::Show(c) => c.run(),
            LvsCommand::Apply(c) => c.run(),
            LvsCommand::Run(c) => c.run(),
            LvsCommand::Timeouts(c) => c.run(),
            LvsCommand::Sync(c) => c.run(),
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
    /// The running server whose director states (draining, drained...) annotate the table:
    /// the admin endpoint of this policy file, when it answers.
    #[command(flatten)]
    pub config: ConfigArg,
}

impl Show {
    pub fn run(self) -> anyhow::Result<()> {
        let mut ipvs = Ipvs::open()?;
        let info = ipvs.info()?;
        let table = ipvs.dump()?;
        let live = director_status(&self.config);
        let text = if self.json {
            let mut v = lvs::show::json(&info, &table, self.stats);
            v["director"] = live.unwrap_or(serde_json::Value::Null);
            let mut s = serde_json::to_string_pretty(&v)?;
            s.push('\n');
            s
        } else {
            let notes = live
                .as_ref()
                .map(lvs::show::notes_from_status)
                .unwrap_or_default();
            lvs::show::text(&info, &table, self.stats, &notes)
        };
        std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing to standard output")
    }
}

/// The `lvs` part of the running server's `/status`, when the policy file names an admin
/// endpoint that answers (a table without it is still shown).
fn director_status(cfg: &ConfigArg) -> Option<serde_json::Value> {
    let config = crate::config::load(&cfg.path()).ok()?;
    config.server.admin?;
    match crate::cmd::admin_client::status(&config) {
        Ok(mut v) => Some(v["lvs"].take()).filter(|v| !v.is_null()),
        Err(e) => {
            tracing::debug!(error = %e, "no director states from the running server");
            None
        }
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
        let health = RealTable::new();
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
        for op in &report.sync_ops {
            writeln!(out, "{op}")?;
        }
        report_unmanaged(&report.unmanaged);
        eprintln!(
            "lvs apply: {} operation(s) applied, {} failed, in {:.2} ms (dump {:.2} ms, operations {:.2} ms)",
            report.applied,
            report.errors.len(),
            report.elapsed.as_secs_f64() * 1e3,
            report.dump.as_secs_f64() * 1e3,
            report.kernel.as_secs_f64() * 1e3,
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
            let (_health_tx, health_rx) = watch::channel(Arc::new(RealTable::new()));
            let shutdown = CancellationToken::new();
            let director = tokio::spawn(lvs::run(
                config_rx,
                health_rx,
                lvs::Outputs::detached(),
                shutdown.clone(),
            ));
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

#[derive(Debug, Args)]
pub struct TimeoutsCmd {
    /// TCP established timeout, seconds.
    #[arg(long)]
    pub tcp: Option<u32>,
    /// TCP timeout after a FIN, seconds.
    #[arg(long)]
    pub tcpfin: Option<u32>,
    /// UDP timeout, seconds.
    #[arg(long)]
    pub udp: Option<u32>,
}

impl TimeoutsCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let mut ipvs = Ipvs::open()?;
        if self.tcp.is_some() || self.tcpfin.is_some() || self.udp.is_some() {
            // 0 leaves a timeout unchanged.
            ipvs.set_timeouts(&lvs::Timeouts {
                tcp: self.tcp.unwrap_or(0),
                tcp_fin: self.tcpfin.unwrap_or(0),
                udp: self.udp.unwrap_or(0),
            })?;
        }
        let t = ipvs.timeouts()?;
        writeln!(
            std::io::stdout().lock(),
            "Timeout (tcp tcpfin udp): {} {} {}",
            t.tcp,
            t.tcp_fin,
            t.udp
        )?;
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct SyncCmd {
    #[command(subcommand)]
    pub command: SyncCommand,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SyncState {
    Master,
    Backup,
}

impl From<SyncState> for lvs::model::DaemonState {
    fn from(s: SyncState) -> Self {
        match s {
            SyncState::Master => lvs::model::DaemonState::Master,
            SyncState::Backup => lvs::model::DaemonState::Backup,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// List the running sync daemons.
    Show,
    /// Start a sync daemon.
    Start {
        #[arg(long, value_enum)]
        state: SyncState,
        /// Interface for the multicast traffic.
        #[arg(long)]
        interface: String,
        #[arg(long, default_value_t = 0)]
        sync_id: u32,
        /// Multicast group (default 224.0.0.81).
        #[arg(long)]
        group: Option<std::net::IpAddr>,
        /// UDP port (default 8848).
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        ttl: Option<u8>,
        /// Maximum sync message size.
        #[arg(long)]
        maxlen: Option<u16>,
    },
    /// Stop a sync daemon.
    Stop {
        #[arg(long, value_enum)]
        state: SyncState,
    },
}

impl SyncCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let mut ipvs = Ipvs::open()?;
        match self.command {
            SyncCommand::Show => {}
            SyncCommand::Start {
                state,
                interface,
                sync_id,
                group,
                port,
                ttl,
                maxlen,
            } => ipvs.start_daemon(&lvs::model::Daemon {
                state: state.into(),
                ifname: interface,
                sync_id,
                maxlen,
                group,
                port,
                ttl,
            })?,
            SyncCommand::Stop { state } => ipvs.stop_daemon(state.into())?,
        }
        let mut out = std::io::stdout().lock();
        for d in ipvs.daemons()? {
            writeln!(
                out,
                "{} sync daemon (mcast={}, syncid={})",
                lvs::sync::state_name(d.state),
                d.ifname,
                d.sync_id
            )?;
        }
        Ok(())
    }
}
