//! The headless command line. Exit codes: 0 success, 1 input problem, 2 usage.

mod animate;
mod check;
mod common;
mod export;
mod export_volume;
mod frame;
mod generate;
mod info;
mod mesh;
mod net;
mod phantom;
mod plan;
mod register;
mod report;
mod search;
mod segment;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "twinplan", version, about = "3D surgical planning on a digital twin of the patient's anatomy")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Open the workstation on a DICOM folder or file, a NIfTI or NRRD volume, or a plan.
    Open { path: PathBuf },
    /// List the series found under PATH: geometry, values, warnings, skipped files.
    Info(info::InfoArgs),
    /// Write a loaded series as NIfTI (RAS affine), to open aligned in 3D Slicer or ITK-SNAP.
    ExportVolume(export_volume::ExportVolumeArgs),
    /// Extract a surface mesh (LPS mm unless --ras) from a scan at an iso value, or from one
    /// label of a NIfTI label map aligned to the scan.
    Mesh(mesh::MeshArgs),
    /// Build one segment from tools applied in order and write it as a NIfTI label map on the
    /// scan's grid (RAS affine, label 1), with the recipe that made it.
    Segment(segment::SegmentArgs),
    /// Clearance analysis of every trajectory in a plan against its critical structures.
    Check(check::CheckArgs),
    /// Propose entries for a trajectory's target: every skin point the instrument can reach is
    /// scored by its risk, the best places are checked exactly, the safest come first.
    Search(search::SearchArgs),
    /// Write a plan's parts for other tools into a folder: each trajectory as a 3D Slicer line
    /// markup (NAME.mrk.json), all of them as trajectories.csv (LPS and RAS), each segment's
    /// surface (meshes/LABEL_NAME.stl|obj|ply, closed, for printing), each vessel's centreline
    /// tree as Slicer curves and CSV with radii (centrelines/LABEL_NAME.mrk.json|csv), the label
    /// map (labels.nii.gz) and each fused scan on the plan's grid (scans/N_NAME.nii.gz).
    Export(export::ExportArgs),
    /// The plan's report, PDF or HTML by the file name: scan, structures with volumes, per
    /// trajectory its coordinates (LPS and RAS), clearances, profile and pictures.
    Report(report::ReportArgs),
    /// Change a plan: `plan add-scan PLAN SCAN [--register]` fuses another scan of the patient.
    Plan(plan::PlanArgs),
    /// Align a moving scan to a fixed scan (rigid, by mutual information, so CT, MR and other
    /// contrasts can be fused): prints fixed_from_moving, which maps a point of MOVING's patient
    /// space to FIXED's (4 x 4, LPS mm).
    Register(register::RegisterArgs),
    /// Write the synthetic head phantom: DICOM series, truth label map, truth JSON.
    Phantom(phantom::PhantomArgs),
    /// The plan's 3D scene as an animated GIF, an MP4 or PNG images, rendered without a window:
    /// a turntable about the patient's superior axis, or the path through the plan's saved views
    /// with segments fading as each view records them.
    Animate(animate::AnimateArgs),
    /// Find a stereotactic frame's localiser on a scan and fit frame_from_patient (4 x 4,
    /// row-major, frame mm from LPS mm), with the residual of its fiducials.
    Frame(frame::FrameArgs),
    /// Receive studies over the DICOM network (C-ECHO and C-STORE) into the local study store,
    /// until stopped.
    Listen(net::ListenArgs),
    /// Send DICOM files (C-STORE) to a PACS or another workstation.
    Send(net::SendArgs),
    /// Check that a DICOM peer answers (C-ECHO).
    Echo(net::EchoArgs),
    /// Ask a PACS for studies (or a study's series) by patient, name or modality (C-FIND).
    Query(net::QueryArgs),
    /// Fetch a study or series from a PACS into the local study store (C-MOVE to twinplan's
    /// storage service, run while retrieving).
    Retrieve(net::RetrieveArgs),
    /// Write the manual pages and shell completions (for packaging).
    #[command(hide = true)]
    GenerateFiles(generate::GenerateArgs),
}

/// An input problem: exit code 1 with the message.
pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Some(Command::Info(args)) => info::run(args),
        Some(Command::ExportVolume(args)) => export_volume::run(args),
        Some(Command::Phantom(args)) => phantom::run(args),
        Some(Command::Mesh(args)) => mesh::run(args),
        Some(Command::Segment(args)) => segment::run(args),
        Some(Command::Check(args)) => check::run(args),
        Some(Command::Report(args)) => report::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Search(args)) => search::run(args),
        Some(Command::Register(args)) => register::run(args),
        Some(Command::Plan(args)) => plan::run(args),
        Some(Command::Frame(args)) => frame::run(args),
        Some(Command::Animate(args)) => animate::run(args),
        Some(Command::Listen(args)) => net::listen(args),
        Some(Command::Send(args)) => net::send(args),
        Some(Command::Echo(args)) => net::echo(args),
        Some(Command::Query(args)) => net::query(args),
        Some(Command::Retrieve(args)) => net::retrieve(args),
        Some(Command::GenerateFiles(args)) => generate::run(args),
        Some(Command::Open { .. }) | None => unreachable!("the GUI commands are handled in main"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
