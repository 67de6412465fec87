//! Instruments a path is planned for: the diameter makes the capsule that clearances are
//! measured from; the usable length limits how deep a target it can reach.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstrumentKind {
    BiopsyNeedle,
    SeegElectrode,
    DbsLead,
    PedicleScrew,
    TwistDrill,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    pub kind: InstrumentKind,
    pub diameter_mm: f64,
    /// Usable length: the deepest target it reaches from the entry.
    pub length_mm: f64,
}

impl InstrumentKind {
    pub const PRESETS: [InstrumentKind; 5] = [
        InstrumentKind::BiopsyNeedle,
        InstrumentKind::SeegElectrode,
        InstrumentKind::DbsLead,
        InstrumentKind::PedicleScrew,
        InstrumentKind::TwistDrill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InstrumentKind::BiopsyNeedle => "biopsy needle",
            InstrumentKind::SeegElectrode => "SEEG electrode",
            InstrumentKind::DbsLead => "DBS lead",
            InstrumentKind::PedicleScrew => "pedicle screw",
            InstrumentKind::TwistDrill => "twist drill",
            InstrumentKind::Custom => "custom",
        }
    }
}

impl Instrument {
    /// Common sizes: a 1.8 mm brain biopsy needle, a 0.8 mm SEEG electrode, a 1.27 mm DBS lead,
    /// a 6.5 mm pedicle screw, a 2.5 mm twist drill.
    pub fn preset(kind: InstrumentKind) -> Instrument {
        let (diameter_mm, length_mm) = match kind {
            InstrumentKind::BiopsyNeedle => (1.8, 200.0),
            InstrumentKind::SeegElectrode => (0.8, 250.0),
            InstrumentKind::DbsLead => (1.27, 400.0),
            InstrumentKind::PedicleScrew => (6.5, 55.0),
            InstrumentKind::TwistDrill => (2.5, 150.0),
            InstrumentKind::Custom => (2.0, 200.0),
        };
        Instrument { kind, diameter_mm, length_mm }
    }

    pub fn custom(diameter_mm: f64, length_mm: f64) -> Instrument {
        Instrument { kind: InstrumentKind::Custom, diameter_mm, length_mm }
    }

    pub fn radius_mm(&self) -> f64 {
        self.diameter_mm / 2.0
    }
}
