//! `twinplan listen`, `send`, `echo`, `query` and `retrieve`: DICOM networking with a PACS, a
//! scanner or another workstation.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, anyhow};
use clap::Args;

use twinplan::core::pacs::query::{Level, Query, find, retrieve_into};
use twinplan::core::pacs::scp::{Config, Event, serve};
use twinplan::core::pacs::store::Store;
use twinplan::core::pacs::{Node, check_ae_title, scu};
use twinplan::core::progress::Progress;

use super::common::TerminalProgress;

#[derive(Args)]
pub struct ListenArgs {
    /// The TCP port (0: any free one, printed).
    #[arg(long, default_value_t = 11112)]
    port: u16,
    /// The address to listen on: this machine only unless another is given.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// This service's AE title: associations calling another are refused.
    #[arg(long, default_value = "TWINPLAN")]
    ae: String,
    /// Only these calling AE titles are served (comma-separated); any when not given.
    #[arg(long, value_delimiter = ',')]
    allow: Vec<String>,
    /// The local study store (default: twinplan/store in the user's data folder).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Associations served at once.
    #[arg(long, default_value_t = 8)]
    max_associations: usize,
    /// The largest PDU received (bytes).
    #[arg(long, default_value_t = 65536)]
    max_pdu: u32,
    /// The largest object received (MiB); a larger one aborts its association.
    #[arg(long, default_value_t = 2048)]
    max_object_mib: usize,
}

fn default_store() -> Result<PathBuf> {
    twinplan::core::pacs::store::default_root()
        .ok_or_else(|| anyhow!("no data folder (neither XDG_DATA_HOME nor HOME is set): give --store DIR"))
}

pub fn listen(args: &ListenArgs) -> Result<()> {
    check_ae_title(&args.ae).map_err(|e| anyhow!("--ae {e}"))?;
    for a in &args.allow {
        check_ae_title(a).map_err(|e| anyhow!("--allow {e}"))?;
    }
    if !(4096..=(1 << 24)).contains(&args.max_pdu) || args.max_associations == 0 || args.max_object_mib == 0 {
        anyhow::bail!("--max-pdu must lie in 4096..16777216, --max-associations and --max-object-mib above 0");
    }
    let root = match &args.store {
        Some(dir) => dir.clone(),
        None => default_store()?,
    };
    let store = Arc::new(Store::open(&root)?);
    let listener = std::net::TcpListener::bind((args.bind.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let address = listener.local_addr()?;
    println!(
        "listening on {address} as {}, storing into {} ({} instances held)",
        args.ae,
        root.display(),
        store.entries().len()
    );
    let config = Config {
        ae_title: args.ae.clone(),
        allowed_callers: args.allow.clone(),
        max_associations: args.max_associations,
        max_pdu_bytes: args.max_pdu,
        max_object_bytes: args.max_object_mib << 20,
        ..Config::default()
    };
    serve(listener, config, store, Arc::new(AtomicBool::new(false)), Arc::new(log))?;
    Ok(())
}

/// The storage service's events, one line each.
fn log(e: Event) {
    match e {
        Event::Associated { caller } => println!("association from {caller}"),
        Event::Refused { reason } => println!("refused: {reason}"),
        Event::Stored { caller, sop_instance_uid, duplicate } => {
            println!("{} {sop_instance_uid} from {caller}", if duplicate { "already held" } else { "stored" })
        }
        Event::Failed { caller, reason } => println!("failed ({caller}): {reason}"),
        Event::Released { caller, stored } => println!("released by {caller}: {stored} received"),
    }
}

#[derive(Args)]
pub struct SendArgs {
    /// DICOM files to send (twinplan's SEG and Encapsulated PDF, or any).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The peer, AE@HOST:PORT.
    #[arg(long)]
    to: Node,
    /// twinplan's calling AE title.
    #[arg(long, default_value = "TWINPLAN")]
    ae: String,
}

pub fn send(args: &SendArgs) -> Result<()> {
    check_ae_title(&args.ae).map_err(|e| anyhow!("--ae {e}"))?;
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let sent = scu::send(&args.files, &args.to, &args.ae, &progress)?;
    drop(shown);
    println!("sent {sent} files to {}", args.to);
    Ok(())
}

#[derive(Args)]
pub struct EchoArgs {
    /// The peer, AE@HOST:PORT.
    node: Node,
    /// twinplan's calling AE title.
    #[arg(long, default_value = "TWINPLAN")]
    ae: String,
}

pub fn echo(args: &EchoArgs) -> Result<()> {
    check_ae_title(&args.ae).map_err(|e| anyhow!("--ae {e}"))?;
    scu::echo(&args.node, &args.ae)?;
    println!("{} answered C-ECHO", args.node);
    Ok(())
}

#[derive(Args)]
pub struct QueryArgs {
    /// The PACS, AE@HOST:PORT.
    #[arg(long)]
    pacs: Node,
    /// twinplan's calling AE title.
    #[arg(long, default_value = "TWINPLAN")]
    ae: String,
    /// Match this patient ID (wildcards * and ? as the PACS takes them).
    #[arg(long)]
    patient_id: Option<String>,
    /// Match this patient name (DICOM form, Family^Given; wildcards allowed).
    #[arg(long)]
    patient_name: Option<String>,
    /// List this study's series instead of studies.
    #[arg(long)]
    study: Option<String>,
    /// Match this modality (CT, MR...).
    #[arg(long)]
    modality: Option<String>,
    /// One JSON array of the matches on stdout.
    #[arg(long)]
    json: bool,
}

pub fn query(args: &QueryArgs) -> Result<()> {
    check_ae_title(&args.ae).map_err(|e| anyhow!("--ae {e}"))?;
    let query = Query {
        level: if args.study.is_some() { Level::Series } else { Level::Study },
        patient_id: args.patient_id.clone(),
        patient_name: args.patient_name.clone(),
        study_uid: args.study.clone(),
        modality: args.modality.clone(),
    };
    let found = find(&args.pacs, &args.ae, &query, &Progress::new())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    for f in &found {
        let count = f.instances.map_or(String::new(), |n| format!(", {n} instances"));
        match query.level {
            Level::Study => println!(
                "study {}  patient {} ({})  {}  {}  [{}{count}]",
                f.study_uid, f.patient_id, f.patient_name, f.study_date, f.study_description, f.modality
            ),
            Level::Series => {
                println!("series {}  {}  {}{count}", f.series_uid, f.modality, f.series_description)
            }
        }
    }
    println!(
        "{} {} found on {}",
        found.len(),
        if query.level == Level::Study { "studies" } else { "series" },
        args.pacs
    );
    Ok(())
}

#[derive(Args)]
pub struct RetrieveArgs {
    /// The PACS, AE@HOST:PORT.
    #[arg(long)]
    pacs: Node,
    /// The study to fetch.
    #[arg(long)]
    study: String,
    /// Only this series of it.
    #[arg(long)]
    series: Option<String>,
    /// twinplan's AE title: the PACS sends to the storage service it knows by this title.
    #[arg(long, default_value = "TWINPLAN")]
    ae: String,
    /// The port the PACS sends to (twinplan listens there while retrieving).
    #[arg(long, default_value_t = 11112)]
    port: u16,
    /// The address to listen on while retrieving.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// The local study store (default: twinplan/store in the user's data folder).
    #[arg(long)]
    store: Option<PathBuf>,
}

pub fn retrieve(args: &RetrieveArgs) -> Result<()> {
    check_ae_title(&args.ae).map_err(|e| anyhow!("--ae {e}"))?;
    let root = match &args.store {
        Some(dir) => dir.clone(),
        None => default_store()?,
    };
    let store = Arc::new(Store::open(&root)?);
    let before = store.entries().len();
    let progress = Progress::new();
    let shown = TerminalProgress::start(&progress);
    let moved = retrieve_into(
        store.clone(),
        &args.pacs,
        &args.ae,
        &args.bind,
        args.port,
        &args.study,
        args.series.as_deref(),
        &progress,
    );
    drop(shown);
    let (moved, listened) = moved?;
    if !listened {
        println!("{}:{} was taken: the service already listening there received the study", args.bind, args.port);
    }
    let added = store.entries().len() - before;
    println!(
        "retrieved from {}: {} sent, {} failed, {} with warnings; {added} new in {}",
        args.pacs,
        moved.completed,
        moved.failed,
        moved.warning,
        root.display()
    );
    if moved.failed > 0 {
        anyhow::bail!("{} of the study's instances could not be retrieved", moved.failed);
    }
    Ok(())
}
