//! The plan's other scans of the same patient (fused): each with the rigid motion that places it
//! in the primary scan's patient space and how that motion was obtained.

use nalgebra::{Isometry3, Matrix3, Matrix4, Rotation3, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::ScanRef;
use crate::core::registration::{LandmarkFit, Registration};
use crate::core::volume::{Grid, Volume, VoxelData};

/// How a secondary scan was placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Placement {
    /// As the scanner recorded it: both scans in one patient space (same frame of reference).
    Geometry,
    /// Registered by mutual information.
    Automatic { metric: f64, iterations: usize },
    /// Fitted to point pairs: the error left at each pair and their root mean square (FRE).
    Landmarks { errors_mm: Vec<f64>, fre_mm: f64 },
    /// Moved by hand.
    Manual,
}

impl Placement {
    /// How the scan was placed, for the report and the command line.
    pub fn describe(&self) -> String {
        match self {
            Placement::Geometry => "by the scanners' geometry (not registered)".into(),
            Placement::Automatic { metric, iterations } => {
                format!("registered by mutual information ({metric:.4} after {iterations} iterations)")
            }
            Placement::Landmarks { errors_mm, fre_mm } => format!(
                "fitted to {} landmark pairs, FRE {fre_mm:.2} mm (worst pair {:.2} mm)",
                errors_mm.len(),
                errors_mm.iter().copied().fold(0.0, f64::max)
            ),
            Placement::Manual => "moved by hand".into(),
        }
    }
}

/// A secondary scan in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondaryScan {
    /// What the user calls it ("T1 with contrast", "CTA").
    pub name: String,
    pub scan: ScanRef,
    /// Maps a point of this scan's patient space to the primary's (LPS mm): written row by row,
    /// 4 x 4, and refused when it is not a rigid motion.
    #[serde(with = "rigid_rows")]
    pub primary_from_secondary: Isometry3<f64>,
    pub placement: Placement,
}

impl SecondaryScan {
    /// Placed by the scans' own geometry.
    pub fn by_geometry(name: &str, scan: ScanRef) -> SecondaryScan {
        SecondaryScan {
            name: name.to_owned(),
            scan,
            primary_from_secondary: Isometry3::identity(),
            placement: Placement::Geometry,
        }
    }

    /// Placed by an automatic registration of this scan (moving) to the primary (fixed).
    pub fn registered(name: &str, scan: ScanRef, r: &Registration) -> SecondaryScan {
        SecondaryScan {
            name: name.to_owned(),
            scan,
            primary_from_secondary: r.fixed_from_moving,
            placement: Placement::Automatic { metric: r.metric, iterations: r.iterations },
        }
    }

    /// Placed by landmarks (primary points fixed, this scan's points moving).
    pub fn by_landmarks(name: &str, scan: ScanRef, fit: &LandmarkFit) -> SecondaryScan {
        SecondaryScan {
            name: name.to_owned(),
            scan,
            primary_from_secondary: fit.fixed_from_moving,
            placement: Placement::Landmarks { errors_mm: fit.errors_mm.clone(), fre_mm: fit.fre_mm },
        }
    }

    /// This scan on the primary scan's grid (trilinear, through `primary_from_secondary`), with
    /// its own values, units and identity: what tools, the views and exports read. Where the
    /// primary grid leaves this scan the value is NaN: no value, which no threshold takes (the
    /// views and exports show it as this scan's lowest). `None` when this scan's grid is flat.
    pub fn on_grid(&self, volume: &Volume, primary: &Grid) -> Option<Volume> {
        let to_secondary = self.primary_from_secondary.inverse().to_homogeneous();
        let values = volume.resampled(primary, &to_secondary, f32::NAN)?;
        Some(Volume {
            grid: primary.clone(),
            data: VoxelData::F32(values),
            meta: volume.meta.clone(),
            warnings: volume.warnings.clone(),
        })
    }
}

/// Why a scan cannot be fused into a plan.
#[derive(Debug, thiserror::Error)]
pub enum FuseRefused {
    #[error("series {0} is the plan's own scan")]
    OwnScan(String),
    /// Unless the user confirms that both are this patient's.
    #[error("the scans belong to different patients (PatientID '{plan}' and '{added}')")]
    OtherPatient { plan: String, added: String },
}

/// Checks `added` before it is fused into a plan on `primary`: not the plan's own series (the
/// same other series may be fused twice, placed two ways to compare), and the same patient
/// unless `allow_other_patient`.
pub fn may_fuse(primary: &Volume, added: &Volume, allow_other_patient: bool) -> Result<(), FuseRefused> {
    let uid = &added.meta.series_uid;
    if !uid.is_empty() && *uid == primary.meta.series_uid {
        return Err(FuseRefused::OwnScan(uid.clone()));
    }
    let (plan, other) = (primary.meta.patient_id.trim(), added.meta.patient_id.trim());
    if !allow_other_patient && !plan.is_empty() && !other.is_empty() && plan != other {
        return Err(FuseRefused::OtherPatient { plan: plan.to_owned(), added: other.to_owned() });
    }
    Ok(())
}

/// A name for `added` that no scan of the plan has: its modality and description, numbered when
/// taken.
pub fn fused_name(added: &Volume, taken: &[SecondaryScan]) -> String {
    let base = format!("{} {}", added.meta.modality, added.meta.description).trim().to_owned();
    let base = if base.is_empty() { "Fused scan".to_owned() } else { base };
    let free = |n: &str| taken.iter().all(|s| s.name != n);
    (1..).map(|k| if k == 1 { base.clone() } else { format!("{base} ({k})") }).find(|n| free(n)).unwrap_or(base)
}

/// An isometry as the 4 x 4 matrix's rows; reading checks that the rows are one.
pub(crate) mod rigid_rows {
    use super::*;

    /// How far from orthonormal a written rotation may be (rounding in the file).
    const TOLERANCE: f64 = 1e-6;

    pub fn serialize<S: serde::Serializer>(m: &Isometry3<f64>, s: S) -> Result<S::Ok, S::Error> {
        let h = m.to_homogeneous();
        let rows: [[f64; 4]; 4] = std::array::from_fn(|r| std::array::from_fn(|c| h[(r, c)]));
        rows.serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Isometry3<f64>, D::Error> {
        let rows = <[[f64; 4]; 4]>::deserialize(d)?;
        rigid(&rows).map_err(serde::de::Error::custom)
    }

    pub fn rigid(rows: &[[f64; 4]; 4]) -> Result<Isometry3<f64>, String> {
        let m = Matrix4::from_fn(|r, c| rows[r][c]);
        let bad = |what: &str| Err(format!("not a rigid motion: {what}"));
        if m.iter().any(|v| !v.is_finite()) {
            return bad("a number is not finite");
        }
        if (m.row(3) - nalgebra::RowVector4::new(0.0, 0.0, 0.0, 1.0)).abs().max() > TOLERANCE {
            return bad("the last row must be 0, 0, 0, 1");
        }
        let r: Matrix3<f64> = m.fixed_view::<3, 3>(0, 0).into_owned();
        if (r.transpose() * r - Matrix3::identity()).abs().max() > TOLERANCE || r.determinant() < 0.0 {
            return bad("its 3 x 3 part must be a rotation (orthonormal, no mirroring)");
        }
        let rotation = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r));
        let t = Vector3::new(m[(0, 3)], m[(1, 3)], m[(2, 3)]);
        Ok(Isometry3::from_parts(Translation3::from(t), rotation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_motion_is_written_row_by_row_and_read_back_only_when_rigid() {
        let motion = Isometry3::new(Vector3::new(1.5, -2.0, 30.0), Vector3::new(0.1, 0.2, -0.3));
        let scan =
            SecondaryScan { primary_from_secondary: motion, ..SecondaryScan::by_geometry("MR", ScanRef::default()) };
        let json = serde_json::to_value(&scan).unwrap();
        let rows = &json["primary_from_secondary"];
        assert_eq!(rows[0][3], 1.5, "translation in the last column");
        assert_eq!(rows[3], serde_json::json!([0.0, 0.0, 0.0, 1.0]));
        assert_eq!(json["placement"]["method"], "geometry");
        let back: SecondaryScan = serde_json::from_value(json.clone()).unwrap();
        assert!((back.primary_from_secondary.to_homogeneous() - motion.to_homogeneous()).abs().max() < 1e-12);

        let mut scaled = json.clone();
        scaled["primary_from_secondary"][0][0] = serde_json::json!(2.0);
        let e = serde_json::from_value::<SecondaryScan>(scaled).unwrap_err().to_string();
        assert!(e.contains("not a rigid motion"), "{e}");
        let mut mirrored = json;
        for c in 0..3 {
            let v = mirrored["primary_from_secondary"][0][c].as_f64().unwrap();
            mirrored["primary_from_secondary"][0][c] = serde_json::json!(-v);
        }
        assert!(serde_json::from_value::<SecondaryScan>(mirrored).unwrap_err().to_string().contains("mirroring"));
    }
}
