//! `twinplan phantom`: the synthetic head phantom with its truth.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use twinplan::core::phantom;

#[derive(Args)]
pub struct PhantomArgs {
    #[arg(long)]
    out: PathBuf,
    /// Instead, the phantom's head in a Leksell G frame with its CT indicator box: dicom/, a plan
    /// on it with one trajectory (framed.twinplan.json) and truth.json (frame_from_patient, the
    /// trajectory's frame coordinates, nominal AC-PC landmarks).
    #[arg(long)]
    framed: bool,
}

pub fn run(args: &PhantomArgs) -> Result<()> {
    let out = args.out.as_path();
    if args.framed {
        eprintln!("generating the phantom in a frame ...");
        let files = phantom::frame::write(out)?;
        println!(
            "wrote {} (CT series with the localiser), {} (a plan on it), {}",
            files.dicom_dir.display(),
            files.plan.display(),
            files.truth.display()
        );
        return Ok(());
    }
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
