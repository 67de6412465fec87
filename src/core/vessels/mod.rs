//! Vessels and nerves from the patient's own images: Hessian vesselness, vessel trees grown from
//! clicked seeds, their centrelines and radii, and nerves traced through clicked points.

pub mod centreline;
mod gaussian;
mod paths;
pub mod trace;
pub mod tracts;
pub mod tree;
pub mod vesselness;

pub use centreline::{Centrelines, centrelines};
pub use tree::TreeSettings;
pub use vesselness::{Polarity, Vesselness, vesselness};
