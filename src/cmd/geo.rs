//! `meridian geo`: tools for the geo databases. `geo compile IN.csv OUT.mmdb` turns a CSV
//! description (the format of `examples/geo/*.csv`) into a real MaxMind DB file, so that
//! operators, tests and benchmarks can feed the same database to Meridian and to other
//! MaxMind DB readers (gdnsd, libmaxminddb's `mmdblookup`).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::UsageError;
use crate::geo::{Kind, csv_to_mmdb};

/// Geo database tools.
#[derive(Debug, Args)]
pub struct Geo {
    #[command(subcommand)]
    pub command: GeoCommand,
}

#[derive(Debug, Subcommand)]
pub enum GeoCommand {
    /// Build a MaxMind DB (.mmdb) from a CSV description (City or ASN columns).
    Compile(Compile),
}

/// Which database a CSV describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CsvKind {
    /// network,continent,country,subdivision,latitude,longitude
    City,
    /// network,asn,organization
    Asn,
}

#[derive(Debug, Args)]
pub struct Compile {
    /// The CSV description.
    pub input: PathBuf,
    /// The .mmdb file to write (replaced atomically).
    pub output: PathBuf,
    /// City or ASN columns (default: guessed from the second field of the first record,
    /// a number meaning ASN).
    #[arg(long, value_enum)]
    pub kind: Option<CsvKind>,
}

impl Geo {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            GeoCommand::Compile(c) => c.run(),
        }
    }
}

impl Compile {
    pub fn run(self) -> anyhow::Result<()> {
        let text = crate::files::read_text(&self.input, crate::files::limit::GEO)
            .map_err(|e| UsageError(e.to_string()))?;
        let kind = match self.kind {
            Some(CsvKind::City) => Kind::City,
            Some(CsvKind::Asn) => Kind::Asn,
            None => guess_kind(&text),
        };
        let bytes = csv_to_mmdb(&text, &self.input, kind).map_err(|e| UsageError(e.to_string()))?;
        let mut tmp = self.output.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, &bytes)
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.output).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot rename to {}: {e}",
                tmp.display(),
                self.output.display()
            )
        })?;
        println!(
            "{}: {} bytes ({:?} database)",
            self.output.display(),
            bytes.len(),
            kind
        );
        Ok(())
    }
}

/// ASN when the second field of the first record is an AS number (`4134` or `AS4134`).
fn guess_kind(text: &str) -> Kind {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let second = first.and_then(|l| l.split(',').nth(1)).map(str::trim);
    match second {
        Some(s) if !s.is_empty() && s.trim_start_matches("AS").parse::<u32>().is_ok() => Kind::Asn,
        _ => Kind::City,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_kind_from_second_field() {
        assert_eq!(guess_kind("# c\n10.0.0.0/8,4134,Chinanet\n"), Kind::Asn);
        assert_eq!(guess_kind("10.0.0.0/8,AS4837,X, Inc\n"), Kind::Asn);
        assert_eq!(guess_kind("10.0.0.0/8,AS,CN,BJ,39.9,116.4\n"), Kind::City);
        assert_eq!(guess_kind("10.0.0.0/8,,,,,\n"), Kind::City);
    }

    #[test]
    fn compiles_a_file_the_reader_opens() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("city.csv");
        let output = dir.path().join("city.mmdb");
        std::fs::write(&input, "192.0.2.0/24,NA,US,NY,40.7,-74.0\n").unwrap();
        Compile {
            input,
            output: output.clone(),
            kind: None,
        }
        .run()
        .unwrap();
        let r = maxminddb::Reader::open_readfile(&output).unwrap();
        assert!(r.metadata().database_type.contains("City"));
        let hit: serde_json::Value = r
            .lookup("192.0.2.7".parse().unwrap())
            .unwrap()
            .decode()
            .unwrap()
            .unwrap();
        assert_eq!(hit["country"]["iso_code"], "US");
        assert!(
            r.lookup("198.51.100.1".parse().unwrap())
                .unwrap()
                .decode::<serde_json::Value>()
                .unwrap()
                .is_none()
        );
    }
}
