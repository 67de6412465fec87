//! `twinplan` with no subcommand (or `open PATH`) starts the workstation; other subcommands run
//! headless (see `cli/`).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        None => gui(None),
        Some(cli::Command::Open { path }) => gui(Some(path)),
        Some(_) => cli::run(cli),
    }
}

#[cfg(feature = "gui")]
fn gui(path: Option<PathBuf>) -> ExitCode {
    twinplan::app::run(path)
}

#[cfg(not(feature = "gui"))]
fn gui(_path: Option<PathBuf>) -> ExitCode {
    eprintln!("error: this build has no workstation (it was built without the `gui` feature)");
    ExitCode::from(2)
}
