//! The study browser's state: the local study store and what it holds, the storage service
//! while the user has it receive, and a PACS query and retrieve running in the background.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bevy::prelude::*;

use super::job::{Job, JobError};
use crate::core::pacs::Node;
use crate::core::pacs::query::{Found, Level, Moved, Query, find, retrieve_into};
use crate::core::pacs::scp::{Config, Event, serve};
use crate::core::pacs::store::{Entry, Store};

/// The storage service running for the browser.
pub struct Receiving {
    pub address: String,
    pub received: Arc<AtomicUsize>,
    pub last: Arc<std::sync::Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Resource)]
pub struct Studies {
    pub store_dir: Option<PathBuf>,
    store: Option<Arc<Store>>,
    /// What the store holds, by SOP Instance UID, as last read.
    pub entries: BTreeMap<String, Entry>,
    read_at: Option<Instant>,
    pub receiving: Option<Receiving>,
    pub ae: String,
    pub port: u16,
    /// The PACS, AE@HOST:PORT as typed.
    pub pacs: String,
    pub patient_id: String,
    pub query: Option<Job<Vec<Found>>>,
    pub results: Vec<Found>,
    pub retrieve: Option<Job<(Moved, bool)>>,
    /// The last outcome or problem, for the user.
    pub message: Option<String>,
}

impl Default for Studies {
    fn default() -> Self {
        Studies {
            store_dir: crate::core::pacs::store::default_root(),
            store: None,
            entries: BTreeMap::new(),
            read_at: None,
            receiving: None,
            ae: "TWINPLAN".into(),
            port: 11112,
            pacs: String::new(),
            patient_id: String::new(),
            query: None,
            results: Vec::new(),
            retrieve: None,
            message: None,
        }
    }
}

impl Studies {
    /// The store, opened on first use.
    fn store(&mut self) -> Result<Arc<Store>, String> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        let dir = self.store_dir.clone().ok_or("no data folder for the study store (HOME is not set)")?;
        let store = Arc::new(Store::open(&dir).map_err(|e| e.to_string())?);
        self.store = Some(store.clone());
        Ok(store)
    }

    /// Reads the store's index again (at most once a second unless `now`).
    pub fn refresh(&mut self, now: bool) {
        if !now && self.read_at.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.read_at = Some(Instant::now());
        match self.store() {
            Ok(store) => self.entries = store.entries(),
            Err(e) => self.message = Some(e),
        }
    }

    /// Starts receiving on 127.0.0.1 at the chosen port and AE title.
    pub fn start_receiving(&mut self) {
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return self.message = Some(e),
        };
        if let Err(e) = crate::core::pacs::check_ae_title(&self.ae) {
            return self.message = Some(e);
        }
        let listener = match std::net::TcpListener::bind(("127.0.0.1", self.port)) {
            Ok(l) => l,
            Err(e) => return self.message = Some(format!("cannot listen on 127.0.0.1:{}: {e}", self.port)),
        };
        let (stop, received, last) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(std::sync::Mutex::new(String::new())),
        );
        let config = Config { ae_title: self.ae.clone(), ..Config::default() };
        let (r, l) = (received.clone(), last.clone());
        let event = move |e: Event| {
            let line = match e {
                Event::Stored { caller, duplicate: false, .. } => {
                    r.fetch_add(1, Ordering::Relaxed);
                    format!("received from {caller}")
                }
                Event::Stored { caller, duplicate: true, .. } => format!("already held, from {caller}"),
                Event::Failed { caller, reason } => format!("{caller}: {reason}"),
                Event::Refused { reason } => format!("refused: {reason}"),
                Event::Associated { caller } => format!("{caller} connected"),
                Event::Released { caller, stored } => format!("{caller}: {stored} sent"),
            };
            *l.lock().expect("the last event") = line;
        };
        let s = stop.clone();
        std::thread::spawn(move || serve(listener, config, store, s, Arc::new(event)));
        self.receiving =
            Some(Receiving { address: format!("127.0.0.1:{} as {}", self.port, self.ae), received, last, stop });
    }

    pub fn query(&mut self) {
        let node: Node = match self.pacs.parse() {
            Ok(n) => n,
            Err(e) => return self.message = Some(e),
        };
        let query = Query {
            level: Level::Study,
            patient_id: (!self.patient_id.trim().is_empty()).then(|| self.patient_id.trim().to_owned()),
            ..Query::default()
        };
        let ae = self.ae.clone();
        self.query = Some(Job::spawn(format!("Querying {node}"), move |progress| {
            find(&node, &ae, &query, progress).map_err(|e| JobError::Failed(e.to_string()))
        }));
    }

    pub fn retrieve(&mut self, study_uid: String) {
        let node: Node = match self.pacs.parse() {
            Ok(n) => n,
            Err(e) => return self.message = Some(e),
        };
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return self.message = Some(e),
        };
        let (ae, port) = (self.ae.clone(), self.port);
        self.retrieve = Some(Job::spawn(format!("Retrieving from {node}"), move |progress| {
            retrieve_into(store, &node, &ae, "127.0.0.1", port, &study_uid, None, progress)
                .map_err(|e| JobError::Failed(e.to_string()))
        }));
    }

    /// Takes in what the background work finished.
    fn poll(&mut self) {
        if let Some(Some(result)) = self.query.as_mut().map(Job::poll) {
            self.query = None;
            match result {
                Ok(found) => {
                    self.message = Some(format!("{} studies found", found.len()));
                    self.results = found;
                }
                Err(e) => self.message = Some(e.to_string()),
            }
        }
        if let Some(Some(result)) = self.retrieve.as_mut().map(Job::poll) {
            self.retrieve = None;
            self.message = Some(match result {
                Ok((m, _)) => format!("retrieved: {} sent, {} failed", m.completed, m.failed),
                Err(e) => e.to_string(),
            });
            self.refresh(true);
        }
        if self.receiving.is_some() {
            self.refresh(false);
        }
    }
}

fn poll(mut studies: ResMut<Studies>) {
    if studies.query.is_some() || studies.retrieve.is_some() || studies.receiving.is_some() {
        studies.poll();
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Studies>().add_systems(Update, poll);
}
