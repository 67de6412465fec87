//! Vessels and nerves from the patient's own images: Hessian vesselness, vessel trees grown from
//! clicked seeds, their centrelines and radii, and nerves traced through clicked points.

mod gaussian;
pub mod tree;
pub mod vesselness;

pub use tree::TreeSettings;
pub use vesselness::{Polarity, Vesselness, vesselness};
