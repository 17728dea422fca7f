//! The policy file: TOML in, a validated [`Config`] out.
//!
//! Parsing happens in two steps: serde reads raw [`spec`] structures (unknown keys and wrong
//! types are refused there), then `validate` turns them into typed values, collecting every
//! problem it finds. Each problem is a [`Diagnostic`] naming file, line, column and key.

mod endpoint;
mod keywords;
mod limits;
pub mod spec;
mod types;
mod validate;

pub use validate::{parse_override_target, read_cidr_file};

use std::fmt;
use std::path::{Path, PathBuf};

pub use endpoint::admin_endpoint;
pub use keywords::{AdminRead, HttpMethod, Keyword, LvsFlag, QType, Rcode, Scheduler, ValueError};
pub use limits::{AdminSettings, ConnLimits, RrlSettings, TcpSettings, ZoneFileRules};
pub use types::*;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `service.www.sites[1]`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.key,
            self.message
        )
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{source}")]
    Read {
        path: PathBuf,
        source: crate::files::FileError,
    },
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The individual problems (empty for a read error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Read and validate the policy file at `path`. Relative paths inside it are resolved against
/// the file's own folder.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = crate::files::read_text(path, crate::files::limit::POLICY).map_err(|source| {
        ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?;
    parse(&text, path)
}

/// Validate policy text as if it had been read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    validate::validate(text, path)
}

/// The configuration used when `--config` is not given: `./meridian.toml` if present, else
/// the built-in example shipped in the source tree.
pub fn default_path() -> PathBuf {
    let local = PathBuf::from("meridian.toml");
    if local.exists() {
        return local;
    }
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/meridian.toml");
    if builtin.exists() {
        return builtin;
    }
    PathBuf::from("examples/meridian.toml")
}

/// Line and column (1-based) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests;
