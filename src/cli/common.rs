//! What the commands share: progress on the terminal, the repeated options, the NIfTI name check.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use twinplan::core::io::volume_file::{self, Kind};
use twinplan::core::progress::Progress;

/// `--series`, for the commands that read one series of a scan.
#[derive(Args)]
pub struct SeriesArg {
    /// Series id or SeriesInstanceUID (default: the largest series).
    #[arg(long)]
    pub series: Option<String>,
}

impl SeriesArg {
    pub fn id(&self) -> Option<&str> {
        self.series.as_deref()
    }
}

/// `--scan`, for the commands that open a plan.
#[derive(Args)]
pub struct ScanArg {
    /// The folder the plan's scan is in now, when it has moved.
    #[arg(long)]
    pub scan: Option<PathBuf>,
}

impl ScanArg {
    pub fn folder(&self) -> Option<&Path> {
        self.scan.as_deref()
    }
}

/// Refuses an output name that is not NIfTI (`.nii` or `.nii.gz`, in any case).
pub fn require_nifti_name(out: &Path) -> Result<()> {
    if volume_file::kind(out) != Some(Kind::Nifti) {
        bail!("{}: expected an output name ending in .nii or .nii.gz", out.display());
    }
    Ok(())
}

/// Shows a job's progress on the terminal (stderr) until dropped.
pub struct TerminalProgress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TerminalProgress {
    pub fn start(progress: &Progress) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let (p, stop) = (progress.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (done, total) = p.counts();
                    if total > 0 {
                        eprint!("\r\x1b[2K{} {done}/{total} ({:.0}%)", p.stage(), 100.0 * p.fraction());
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                eprint!("\r\x1b[2K");
            })
        });
        TerminalProgress { stop, thread }
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn row_major<const R: usize, const C: usize>(m: &nalgebra::SMatrix<f64, R, C>) -> Vec<Vec<f64>> {
    (0..R).map(|r| (0..C).map(|c| m[(r, c)]).collect()).collect()
}
