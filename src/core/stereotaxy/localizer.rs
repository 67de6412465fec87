//! A frame's localiser as data: straight rods given as segments in the frame's coordinates (mm).
//! N-localisers (two parallel rods and a diagonal from the end of one to the far end of the
//! other) are found among the rods by their shared ends, so a new make of frame is one JSON file.

use std::path::Path;

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

/// Rod ends closer than this are one point (mm).
const SAME_END_MM: f64 = 0.5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rod {
    pub from_mm: [f64; 3],
    pub to_mm: [f64; 3],
}

impl Rod {
    pub fn from(&self) -> Point3<f64> {
        Point3::from(self.from_mm)
    }
    pub fn to(&self) -> Point3<f64> {
        Point3::from(self.to_mm)
    }
    fn direction(&self) -> Vector3<f64> {
        (self.to() - self.from()).normalize()
    }
    /// The distance from `p` to the rod's line.
    pub fn line_distance(&self, p: &Point3<f64>) -> f64 {
        let d = self.direction();
        let v = p - self.from();
        (v - d * v.dot(&d)).norm()
    }
    /// The point of the rod's line nearest `p`.
    pub fn nearest_on_line(&self, p: &Point3<f64>) -> Point3<f64> {
        let d = self.direction();
        self.from() + d * (p - self.from()).dot(&d)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Localizer {
    pub name: String,
    /// The frame whose coordinates the rods are in (for example "Leksell").
    pub frame: String,
    /// Where the geometry and the coordinate convention come from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The frame's coordinate convention, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub convention: String,
    pub rods: Vec<Rod>,
    /// The frame's X, Y and Z axes in patient space (LPS) when it is mounted straight. Some
    /// localisers read the same turned over (two lateral N-localisers do, upside down and back
    /// to front): of fits that explain the dots equally, the one nearest this mounting is taken.
    #[serde(default = "lps_axes")]
    pub axes_lps: [[f64; 3]; 3],
}

fn lps_axes() -> [[f64; 3]; 3] {
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
}

/// One N-localiser: rod indices of its two parallel rods and its diagonal, with the diagonal's
/// end on the first parallel rod given as `diagonal_starts_on_first`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NLocalizer {
    pub first: usize,
    pub diagonal: usize,
    pub second: usize,
    /// Whether the diagonal's `from` end lies on the first rod (else its `to` end does).
    pub diagonal_from_on_first: bool,
    /// The distance between the parallel rods (mm).
    pub width_mm: f64,
}

impl NLocalizer {
    /// The diagonal's point at fraction `t` of the way from the first rod to the second.
    pub fn diagonal_point(&self, rods: &[Rod], t: f64) -> Point3<f64> {
        let d = &rods[self.diagonal];
        let (start, end) = if self.diagonal_from_on_first { (d.from(), d.to()) } else { (d.to(), d.from()) };
        start + (end - start) * t
    }
}

const LEKSELL_G: &str = include_str!("../../../assets/localizers/leksell-g-ct.json");

impl Localizer {
    /// The localisers twinplan ships, by file name without `.json`.
    pub fn preset(name: &str) -> Option<Localizer> {
        match name {
            "leksell-g-ct" => serde_json::from_str(LEKSELL_G).ok(),
            _ => None,
        }
    }

    pub const PRESETS: [&'static str; 1] = ["leksell-g-ct"];

    /// Reads and checks a localiser file.
    pub fn load(path: &Path) -> Result<Localizer, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let localizer: Localizer = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not a localiser file ({e}); expected {{\"name\", \"frame\", \"rods\": [{{\"from_mm\": [x, y, z], \"to_mm\": [x, y, z]}}, ...]}}",
                path.display()
            )
        })?;
        localizer.n_localizers().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(localizer)
    }

    /// The rotation part of `frame_from_patient` for a frame mounted straight.
    pub fn straight_rotation(&self) -> Result<nalgebra::Rotation3<f64>, String> {
        let m = nalgebra::Matrix3::from_fn(|r, c| self.axes_lps[r][c]);
        if (m * m.transpose() - nalgebra::Matrix3::identity()).abs().max() > 1e-6 || m.determinant() < 0.0 {
            return Err("axes_lps must be three perpendicular unit vectors, right-handed".into());
        }
        Ok(nalgebra::Rotation3::from_matrix_unchecked(m))
    }

    /// The N-localisers among the rods: at least two are needed to fit a frame.
    pub fn n_localizers(&self) -> Result<Vec<NLocalizer>, String> {
        self.straight_rotation()?;
        for (i, r) in self.rods.iter().enumerate() {
            let length = (r.to() - r.from()).norm();
            if !(length.is_finite() && length > 1.0) {
                return Err(format!("rod {} is shorter than 1 mm or not a number", i + 1));
            }
        }
        let near = |a: &Point3<f64>, b: &Point3<f64>| (a - b).norm() < SAME_END_MM;
        let ends = |r: &Rod| [r.from(), r.to()];
        let mut found = Vec::new();
        for (d, diag) in self.rods.iter().enumerate() {
            for (a, first) in self.rods.iter().enumerate() {
                for (b, second) in self.rods.iter().enumerate() {
                    if a == d || b == d || a >= b || first.direction().cross(&second.direction()).norm() > 1e-3 {
                        continue;
                    }
                    for from_on_first in [true, false] {
                        let (s, e) = if from_on_first { (diag.from(), diag.to()) } else { (diag.to(), diag.from()) };
                        // A diagonal runs from an end of the first rod to the other height's end
                        // of the second (a bar between ends at one height is not a diagonal).
                        let joins = ends(first).iter().any(|p| near(p, &s))
                            && ends(second).iter().any(|q| near(q, &e))
                            && (e - s).dot(&first.direction()).abs() > 1.0;
                        if joins {
                            let width_mm = first.line_distance(&second.from());
                            found.push(NLocalizer {
                                first: a,
                                diagonal: d,
                                second: b,
                                diagonal_from_on_first: from_on_first,
                                width_mm,
                            });
                        }
                    }
                }
            }
        }
        if found.len() < 2 {
            return Err(format!(
                "{} N-localiser(s) among {} rods: at least 2 are needed (two parallel rods joined by a diagonal from \
                 the end of one to the far end of the other, ends within {SAME_END_MM} mm)",
                found.len(),
                self.rods.len()
            ));
        }
        Ok(found)
    }
}
