//! `twinplan listen`, `send` and `echo`: DICOM networking with a PACS, a scanner or another
//! workstation.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, anyhow};
use clap::Args;

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

/// The user's data folder: $XDG_DATA_HOME, else ~/.local/share.
fn default_store() -> Result<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| anyhow!("no data folder (neither XDG_DATA_HOME nor HOME is set): give --store DIR"))?;
    Ok(data.join("twinplan/store"))
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
    let log = |e: Event| match e {
        Event::Associated { caller } => println!("association from {caller}"),
        Event::Refused { reason } => println!("refused: {reason}"),
        Event::Stored { caller, sop_instance_uid, duplicate } => {
            println!("{} {sop_instance_uid} from {caller}", if duplicate { "already held" } else { "stored" })
        }
        Event::Failed { caller, reason } => println!("failed ({caller}): {reason}"),
        Event::Released { caller, stored } => println!("released by {caller}: {stored} received"),
    };
    serve(listener, config, store, Arc::new(AtomicBool::new(false)), Arc::new(log))?;
    Ok(())
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
