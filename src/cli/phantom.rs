//! `twinplan phantom`: the synthetic head phantom with its truth.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use twinplan::core::phantom;

#[derive(Args)]
pub struct PhantomArgs {
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &PhantomArgs) -> Result<()> {
    let out = args.out.as_path();
    eprintln!("generating the phantom ...");
    let p = phantom::generate();
    let files = phantom::write(&p, out)?;
    println!(
        "wrote {} (CT series), {} (MR series), {}, {}, {}",
        files.dicom_dir.display(),
        files.mr_dir.display(),
        files.labels.display(),
        files.truth.display(),
        files.plan.display()
    );
    Ok(())
}
