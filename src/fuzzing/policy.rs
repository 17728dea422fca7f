//! The policy harness: text through the TOML policy validator as if it were
//! examples/meridian.toml (so relative paths reach the example's geo CSVs and zones), and a
//! configuration that validates through the policy compiler.
//!
//! Checks: no panic and no hang; every diagnostic names the file and a line and column
//! inside the text.

use crate::config::{self, ConfigError};
use crate::policy::Compiled;

/// Validates `data` (which must be UTF-8, as the loader requires) as a policy file.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = super::source_root().join("examples/meridian.toml");
    match config::parse(text, &path) {
        Ok(cfg) => {
            if !cfg.services.is_empty() {
                // A bad database or CIDR file is an error here, never a panic.
                let _ = Compiled::new(&cfg).map_err(|e| e.to_string());
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an empty error");
            let ConfigError::Invalid(diags) = &e else {
                panic!("parse reported a read error: {e}");
            };
            assert!(!diags.is_empty(), "invalid without a diagnostic");
            let lines: Vec<&str> = text.split('\n').collect();
            for d in diags {
                assert_eq!(d.file, path, "diagnostic for another file: {d}");
                assert!(
                    (1..=lines.len()).contains(&d.line),
                    "line out of range: {d}"
                );
                let width = lines[d.line - 1].len();
                assert!(
                    (1..=width + 1).contains(&d.column),
                    "column out of range ({width} bytes): {d}"
                );
            }
        }
    }
}
