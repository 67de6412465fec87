//! The AC-PC coordinate system, from the anterior and posterior commissures and a point of the
//! midsagittal plane: origin at the mid-commissural point (MCP), y along PC to AC (anterior), z
//! up within the midsagittal plane (toward the midline point's side), x = y x z, to the
//! patient's right. Coordinates in mm.

use nalgebra::{Matrix3, Point3, Vector3};
use serde::{Deserialize, Serialize};

/// The three landmarks (LPS mm), as the user marked them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcPc {
    pub ac_mm: Point3<f64>,
    pub pc_mm: Point3<f64>,
    /// Any point of the midsagittal plane above the commissures.
    pub midline_mm: Point3<f64>,
}

/// The landmark a preset's offsets are measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The mid-commissural point.
    Mcp,
    /// The posterior commissure (offsets along the AC-PC line, as VIM is usually given).
    Pc,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Mcp => "the mid-commissural point",
            Anchor::Pc => "the posterior commissure",
        }
    }
}

/// A target's usual place relative to a landmark: lateral (mm, to the side chosen), anterior
/// (mm, negative posterior) and superior (mm, negative inferior), in the AC-PC axes, with what
/// the numbers are and where they come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TargetPreset {
    pub name: &'static str,
    pub lateral_mm: f64,
    pub anterior_mm: f64,
    pub superior_mm: f64,
    pub from: Anchor,
    /// What the numbers are (a planning rule, or where effective treatments lay).
    pub what: &'static str,
    pub source: &'static str,
}

/// Only targets whose offsets a source read here states; GPi is left out because no source
/// with its offsets could be read here.
pub const PRESETS: [TargetPreset; 2] = [
    TargetPreset {
        name: "STN",
        lateral_mm: 13.0,
        anterior_mm: -4.0,
        superior_mm: -5.0,
        from: Anchor::Mcp,
        what: "the usual indirect target",
        source: "Comparison of anatomic and neurophysiological methods for subthalamic nucleus targeting, \
                 Neurosurgery 2000;47(2):282-294, doi:10.1097/00006123-200008000-00005",
    },
    TargetPreset {
        name: "VIM",
        lateral_mm: 14.9,
        anterior_mm: 6.4,
        superior_mm: 0.6,
        from: Anchor::Pc,
        what: "the mean centre of 47 effective focused-ultrasound VIM thalamotomies",
        source: "Paez-Nova et al., Targeting the Vim by direct visualization of the cerebello-thalamo-cortical \
                 pathway in 3 T proton density MRI: correlation with focused ultrasound lesioning, \
                 Neurosurgical Review 2022, doi:10.1007/s10143-022-01752-0",
    },
];

impl AcPc {
    /// Columns: the x (right), y (anterior) and z (superior) axes in LPS; an error when the
    /// landmarks do not define them (AC on PC, or the midline point on the AC-PC line).
    pub fn axes(&self) -> Result<Matrix3<f64>, String> {
        let y = (self.ac_mm - self.pc_mm)
            .try_normalize(1e-6)
            .ok_or("AC and PC are the same point: the AC-PC line is undefined")?;
        let up = self.midline_mm - self.mcp();
        let z = (up - y * up.dot(&y))
            .try_normalize(1e-3)
            .ok_or("the midline point lies on the AC-PC line: the midsagittal plane is undefined")?;
        Ok(Matrix3::from_columns(&[y.cross(&z), y, z]))
    }

    /// The mid-commissural point.
    pub fn mcp(&self) -> Point3<f64> {
        Point3::from((self.ac_mm.coords + self.pc_mm.coords) / 2.0)
    }

    /// AC-PC coordinates (x right, y anterior, z superior) of an LPS point.
    pub fn acpc_from_patient(&self, p: &Point3<f64>) -> Result<Vector3<f64>, String> {
        Ok(self.axes()?.transpose() * (p - self.mcp()))
    }

    /// The LPS point of AC-PC coordinates.
    pub fn patient_from_acpc(&self, c: &Vector3<f64>) -> Result<Point3<f64>, String> {
        Ok(self.mcp() + self.axes()? * c)
    }

    /// The AC-PC length (mm).
    pub fn length_mm(&self) -> f64 {
        (self.ac_mm - self.pc_mm).norm()
    }
}

impl TargetPreset {
    /// Its AC-PC coordinates on the patient's `right` side or left, for this patient's landmarks
    /// (an offset from PC moves with the AC-PC length).
    pub fn acpc(&self, right: bool, landmarks: &AcPc) -> Vector3<f64> {
        let from_mcp_mm = match self.from {
            Anchor::Mcp => 0.0,
            Anchor::Pc => -landmarks.length_mm() / 2.0,
        };
        let lateral_mm = if right { self.lateral_mm } else { -self.lateral_mm };
        Vector3::new(lateral_mm, from_mcp_mm + self.anterior_mm, self.superior_mm)
    }

    /// "13.0 mm lateral, 4.0 posterior, 5.0 below the mid-commissural point (the usual indirect
    /// target; source)": the numbers with their signs in words.
    pub fn describe(&self) -> String {
        let way = |v: f64, plus: &str, minus: &str| format!("{:.1} {}", v.abs(), if v < 0.0 { minus } else { plus });
        format!(
            "{:.1} mm lateral, {}, {} {} ({}; {})",
            self.lateral_mm,
            way(self.anterior_mm, "anterior", "posterior"),
            way(self.superior_mm, "above", "below"),
            self.from.name(),
            self.what,
            self.source
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head turned and tilted: AC-PC coordinates follow the landmarks, not the scanner.
    #[test]
    fn coordinates_follow_the_landmarks() {
        // Straight head: AC 25 mm anterior of PC (LPS y is posterior), midline above.
        let straight = AcPc {
            ac_mm: Point3::new(0.0, -12.5, 0.0),
            pc_mm: Point3::new(0.0, 12.5, 0.0),
            midline_mm: Point3::new(0.0, 0.0, 40.0),
        };
        // 10 mm to the patient's right (LPS x negative), 4 posterior, 5 below.
        let p = Point3::new(-10.0, 4.0, -5.0);
        let c = straight.acpc_from_patient(&p).unwrap();
        assert!((c - Vector3::new(10.0, -4.0, -5.0)).norm() < 1e-12, "{c}");
        let motion = nalgebra::Isometry3::new(Vector3::new(3.0, -7.0, 11.0), Vector3::new(0.2, -0.1, 0.3));
        let moved = AcPc {
            ac_mm: motion * straight.ac_mm,
            pc_mm: motion * straight.pc_mm,
            midline_mm: motion * Point3::new(0.0, 5.0, 60.0),
        };
        assert!((moved.acpc_from_patient(&(motion * p)).unwrap() - c).norm() < 1e-9);
        assert!((moved.patient_from_acpc(&c).unwrap() - motion * p).norm() < 1e-9);
        assert_eq!(straight.length_mm(), 25.0);
        let flat = AcPc { midline_mm: Point3::new(0.0, 30.0, 0.0), ..straight };
        assert!(flat.axes().unwrap_err().contains("midline"));
    }

    /// Presets worked by hand: STN from the MCP, VIM from PC along a 25 mm AC-PC line.
    #[test]
    fn presets_are_placed_from_their_landmark() {
        let landmarks = AcPc {
            ac_mm: Point3::new(0.0, -12.5, 0.0),
            pc_mm: Point3::new(0.0, 12.5, 0.0),
            midline_mm: Point3::new(0.0, 0.0, 40.0),
        };
        let [stn, vim] = PRESETS;
        assert_eq!(stn.acpc(true, &landmarks), Vector3::new(13.0, -4.0, -5.0));
        assert_eq!(stn.acpc(false, &landmarks), Vector3::new(-13.0, -4.0, -5.0));
        // 6.4 mm anterior of PC, which is 12.5 mm behind the MCP: 6.1 mm behind it.
        let v = vim.acpc(false, &landmarks);
        assert!((v - Vector3::new(-14.9, -6.1, 0.6)).norm() < 1e-12, "{v}");
        // On the patient: the right side is LPS x negative, posterior is LPS y positive.
        let p = landmarks.patient_from_acpc(&vim.acpc(true, &landmarks)).unwrap();
        assert!((p - Point3::new(-14.9, 6.1, 0.6)).norm() < 1e-12, "{p}");
        assert!(stn.describe().starts_with("13.0 mm lateral, 4.0 posterior, 5.0 below the mid-commissural point"));
        assert!(vim.describe().starts_with("14.9 mm lateral, 6.4 anterior, 0.6 above the posterior commissure"));
    }
}
