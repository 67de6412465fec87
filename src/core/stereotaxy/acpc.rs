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

/// A target's usual place relative to the MCP: lateral (mm, to the side chosen), anterior (mm,
/// negative posterior) and superior (mm, negative inferior), with where the numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TargetPreset {
    pub name: &'static str,
    pub lateral_mm: f64,
    pub anterior_mm: f64,
    pub superior_mm: f64,
    pub source: &'static str,
}

/// Only targets whose offsets a source read here gives; GPi and VIM are left out until their
/// numbers are confirmed from a source.
pub const PRESETS: [TargetPreset; 1] = [TargetPreset {
    name: "STN",
    lateral_mm: 13.0,
    anterior_mm: -4.0,
    superior_mm: -5.0,
    source: "Comparison of anatomic and neurophysiological methods for subthalamic nucleus targeting, \
             Neurosurgery 2000;47(2):282-294, doi:10.1097/00006123-200008000-00005",
}];

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
    /// Its AC-PC coordinates on the patient's `right` side or left.
    pub fn acpc(&self, right: bool) -> Vector3<f64> {
        Vector3::new(if right { self.lateral_mm } else { -self.lateral_mm }, self.anterior_mm, self.superior_mm)
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
}
