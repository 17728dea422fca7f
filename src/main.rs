//! The `meridian` binary: parse the command line, set up logging, run one subcommand and map
//! its outcome to an exit code (0 success, 1 runtime failure, 2 usage or configuration error).

use std::process::ExitCode;

use clap::Parser;
use meridian::cmd::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    meridian::cmd::init_logging(cli.log_format, cli.verbose);
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = meridian::cmd::exit_code(&e);
            if !meridian::cmd::already_reported(&e) {
                eprintln!("meridian: {}", meridian::errtext::chain(e.as_ref()));
            }
            ExitCode::from(code)
        }
    }
}
