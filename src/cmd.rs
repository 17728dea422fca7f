//! The command line: one type per subcommand, each with `run(self)`.
//!
//! `main.rs` only parses [`Cli`], sets up logging and turns the result into an exit code with
//! [`exit_code`]: configuration errors exit 2, runtime failures 1.

mod admin_client;
mod assets;
mod check;
mod cluster;
mod explain;
mod geo;
mod lvs;
mod overrides;
mod realserver;
mod relay;
mod reload;
mod serve;
mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use assets::GenerateAssets;
pub use check::Check;
pub use cluster::Cluster;
pub use explain::Explain;
pub use geo::Geo;
pub use lvs::Lvs;
pub use overrides::Override;
pub use realserver::RealServer;
pub use relay::ExabgpRelay;
pub use reload::Reload;
pub use serve::Serve;
pub use status::Status;

/// Meridian: a DNS global load balancer and LVS director.
#[derive(Debug, Parser)]
#[command(name = "meridian", version, about)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    /// More detail in logs (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve DNS, run health checks and the admin endpoint (the default).
    Serve(Serve),
    /// Validate the configuration, zones, databases and CIDR files (exit 0, or 2).
    Check(Check),
    /// Explain which rule, ISP, sites, health, answer and ECS scope a client gets, and why.
    Explain(Explain),
    /// Force a site, link or address up, down or drain on the running server.
    Override(Override),
    /// Manage the kernel's IPVS table: show, apply once, or keep reconciling.
    Lvs(Lvs),
    /// Geo database tools (`geo compile IN.csv OUT.mmdb`).
    Geo(Geo),
    /// The cluster's peers as the running node sees them; `cluster keygen FILE`.
    Cluster(Cluster),
    /// What the running server thinks: sites, links, services, overrides, LVS, peers,
    /// anycast (--json: the whole status document).
    Status(Status),
    /// Reload the running server's policy file like SIGHUP; print the errors (exit 2) when
    /// it is refused.
    Reload(Reload),
    /// Prepare this host as a DR/TUN real server of `[lvs]`: `up`, `down`, `--check`.
    Realserver(RealServer),
    /// Write man pages and shell completions into a folder (for packaging).
    #[command(hide = true)]
    GenerateAssets(GenerateAssets),
    /// The ExaBGP relay `serve` starts (internal).
    #[command(hide = true)]
    ExabgpRelay(ExabgpRelay),
}

/// `--config PATH`, shared by the subcommands that read a policy file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArg {
    /// Policy file (default: ./meridian.toml, else the built-in example).
    #[arg(long, short = 'c', global = true)]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(crate::config::default_path)
    }
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Some(Command::Check(c)) => c.run(),
            Some(Command::Override(c)) => c.run(),
            Some(Command::Explain(c)) => c.run(),
            Some(Command::Geo(c)) => c.run(),
            Some(Command::Serve(c)) => c.run(),
            Some(Command::Lvs(c)) => c.run(),
            Some(Command::Cluster(c)) => c.run(),
            Some(Command::Status(c)) => c.run(),
            Some(Command::Reload(c)) => c.run(),
            Some(Command::Realserver(c)) => c.run(),
            Some(Command::GenerateAssets(c)) => c.run(),
            Some(Command::ExabgpRelay(c)) => c.run(),
            None => Serve::default().run(),
        }
    }
}

/// A configuration problem (exit code 2), as opposed to a runtime failure (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An error whose details were already logged where it happened.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Reported(pub String);

/// A configuration the running server refused, its errors already printed (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigRefused(pub String);

pub fn exit_code(e: &anyhow::Error) -> u8 {
    let config = e.chain().any(|c| {
        c.downcast_ref::<crate::config::ConfigError>().is_some()
            || c.downcast_ref::<ConfigRefused>().is_some()
            || c.downcast_ref::<crate::policy::PolicyError>().is_some()
            || c.downcast_ref::<UsageError>().is_some()
            || matches!(
                c.downcast_ref::<crate::serve::ServeError>(),
                Some(
                    crate::serve::ServeError::Config(_)
                        | crate::serve::ServeError::Policy(_)
                        | crate::serve::ServeError::Access { .. }
                        | crate::serve::ServeError::Privilege(
                            crate::privilege::PrivilegeError::NotRoot { .. }
                        )
                )
            )
    });
    if config { 2 } else { 1 }
}

pub fn already_reported(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Reported>().is_some() || e.downcast_ref::<ConfigRefused>().is_some()
}

/// The log format this process was started with (children such as the ExaBGP relay use it).
static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The `--log-format` value as it is given on the command line.
pub fn log_format_arg() -> &'static str {
    match LOG_FORMAT.get() {
        Some(LogFormat::Json) => "json",
        _ => "human",
    }
}

/// Logs go to standard error; colour only when it is a terminal and `NO_COLOR` is unset
/// (no-color.org), so that journald, files and pipes get plain text.
pub fn init_logging(format: LogFormat, verbose: u8) {
    use std::io::IsTerminal;
    // A second initialisation (tests) keeps the first format, as it keeps the subscriber.
    LOG_FORMAT.get_or_init(|| format);
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        );
    // A second initialisation (tests) is harmless; keep the first subscriber.
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_err() {
        tracing::debug!("logging was already initialised");
    }
}
