//! twinplan: a patient's CT or MRI becomes a digital twin for planning instrument trajectories.
//!
//! `core` is the domain (no windowing, builds with `--no-default-features`); `app` is the Bevy +
//! egui workstation on top of it.

pub mod core;

#[cfg(feature = "gui")]
pub mod app;
