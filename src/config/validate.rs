//! Spec -> typed config. (being written)
use super::{Config, ConfigError};
use std::path::Path;
pub(super) fn validate(_text: &str, _path: &Path) -> Result<Config, ConfigError> {
    Err(ConfigError::Invalid(Vec::new()))
}
