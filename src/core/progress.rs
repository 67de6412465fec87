//! Progress and cancellation shared between a long-running job and whoever shows it.
//!
//! Core algorithms take a `&Progress`, advance it, and stop with [`Cancelled`] when asked to.
//! The GUI polls it every frame; the CLI draws it on the terminal.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The user asked to stop the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled by the user")]
pub struct Cancelled;

/// An error of work the user can cancel: it tells the cancel (a [`Cancelled`] inside, the one
/// form every error carries it in) from a failure, so callers never report a cancel as one.
pub trait Interrupted: std::fmt::Display {
    fn is_cancelled(&self) -> bool;
}

impl Interrupted for Cancelled {
    fn is_cancelled(&self) -> bool {
        true
    }
}

#[derive(Default)]
struct Inner {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
    stage: Mutex<String>,
}

/// A cheap, cloneable handle: all clones see the same counters.
#[derive(Clone, Default)]
pub struct Progress(Arc<Inner>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (done, total) = self.counts();
        write!(f, "Progress({} {done}/{total})", self.stage())
    }
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new stage of `total` units of work (files, slices, bytes...).
    pub fn begin(&self, stage: &str, total: u64) {
        if let Ok(mut s) = self.0.stage.lock() {
            stage.clone_into(&mut s);
        }
        self.0.done.store(0, Ordering::Relaxed);
        self.0.total.store(total, Ordering::Relaxed);
    }

    pub fn advance(&self, units: u64) {
        self.0.done.fetch_add(units, Ordering::Relaxed);
    }

    pub fn stage(&self) -> String {
        self.0.stage.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn counts(&self) -> (u64, u64) {
        (self.0.done.load(Ordering::Relaxed), self.0.total.load(Ordering::Relaxed))
    }

    /// Fraction of the current stage done, in 0..=1 (0 when the total is unknown).
    pub fn fraction(&self) -> f32 {
        let (done, total) = self.counts();
        if total == 0 { 0.0 } else { (done as f64 / total as f64).min(1.0) as f32 }
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the user has asked to stop; call it between units of work.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() { Err(Cancelled) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_counters_and_cancel() {
        let p = Progress::new();
        let q = p.clone();
        p.begin("decoding", 4);
        q.advance(1);
        assert_eq!(p.counts(), (1, 4));
        assert!((p.fraction() - 0.25).abs() < 1e-6);
        assert_eq!(q.stage(), "decoding");
        assert_eq!(p.check(), Ok(()));
        q.cancel();
        assert_eq!(p.check(), Err(Cancelled));
    }
}
