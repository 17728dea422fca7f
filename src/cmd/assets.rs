//! `meridian generate-assets DIR` (hidden): the manual pages (`DIR/man/man1/*.1`, one per
//! subcommand, from `clap_mangen`) and the shell completions (`DIR/completions/`: bash, zsh,
//! fish, from `clap_complete`), generated from the same clap definition the binary parses,
//! so they cannot drift from it. `scripts/build-deb.sh` packages them; `DIR/man` works as a
//! `MANPATH` entry.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// Write the man pages and shell completions under DIR (for packaging).
#[derive(Debug, Args)]
pub struct GenerateAssets {
    /// Folder to write `man/` and `completions/` into (created if missing).
    pub dir: PathBuf,
}

/// The completion files, named where each shell looks for them.
const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "meridian"),
    (Shell::Zsh, "_meridian"),
    (Shell::Fish, "meridian.fish"),
];

impl GenerateAssets {
    pub fn run(self) -> anyhow::Result<()> {
        let man = self.dir.join("man").join("man1");
        let completions = self.dir.join("completions");
        for d in [&man, &completions] {
            std::fs::create_dir_all(d)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", d.display()))?;
        }
        clap_mangen::generate_to(Cli::command(), &man).map_err(|e| {
            anyhow::anyhow!("cannot write the man pages into {}: {e}", man.display())
        })?;
        for (shell, file) in SHELLS {
            write_completion(shell, &completions.join(file))?;
        }
        println!("wrote {} and {}", man.display(), completions.display());
        Ok(())
    }
}

fn write_completion(shell: Shell, path: &Path) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "meridian", &mut out);
    std::fs::write(path, out).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
