//! `twinplan generate-files DIR` (hidden): the manual pages and shell completions, made from the
//! command line's own definitions so that they never disagree with it. The Debian package is
//! built with them (packaging/build-deb).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

#[derive(Args)]
pub struct GenerateArgs {
    /// The folder to write man/ (twinplan.1, twinplan-SUBCOMMAND.1) and completions/ into.
    out: PathBuf,
}

pub fn run(args: &GenerateArgs) -> Result<()> {
    let command = super::Cli::command();
    let man = args.out.join("man");
    let completions = args.out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    clap_mangen::generate_to(command.clone(), &man).with_context(|| format!("{}: the manual", man.display()))?;
    let pages = std::fs::read_dir(&man).map_or(0, |d| d.count());
    for (shell, name) in [
        (clap_complete::Shell::Bash, "twinplan"),
        (clap_complete::Shell::Zsh, "_twinplan"),
        (clap_complete::Shell::Fish, "twinplan.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut command.clone(), "twinplan", &mut text);
        write(&completions.join(name), &text)?;
    }
    println!(
        "wrote {pages} manual pages in {} and bash, zsh and fish completions in {}",
        man.display(),
        completions.display()
    );
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}
