//! The phantom's MR: the same head scanned again as a T1-weighted series after gadolinium, on
//! its own grid (other spacing, an oblique orientation, a field of view that leaves out
//! the bottom of the head) and in its own patient space: the patient lay differently, by a known rigid motion,
//! so fusing it with the CT is a registration with an exact answer.

use nalgebra::{Isometry3, Matrix4, Rotation3, Translation3, UnitQuaternion, Vector3};

use super::{Anatomy, CENTRE_MM, Tissue, record};
use crate::core::volume::{Grid, Volume, VolumeMeta, VoxelData};

pub const MR_DIMS: [usize; 3] = [150, 180, 96];
pub const MR_SPACING_MM: [f64; 3] = [1.1, 1.1, 1.6];
/// Slices tilted about the patient's left-right axis, as an acquisition along the skull base is.
pub const MR_TILT_DEG: f64 = 10.0;
/// Standard deviation of the added noise (before the magnitude is taken).
pub const MR_NOISE_SD: f64 = 12.0;
const MR_SEED: u64 = 0x7477_696e_6d72_7431; // "twinmrt1"

impl Tissue {
    /// Signal on a T1-weighted scan after gadolinium (arbitrary units, as MR has): white matter
    /// brighter than grey, fat and marrow bright, cortical bone and flowing blood dark (flow
    /// voids), the tumour's rim enhancing around a darker core, the optic nerves brighter than
    /// the white matter around them.
    pub fn t1(self) -> f64 {
        match self {
            Tissue::Air => 0.0,
            Tissue::Skin => 450.0,
            Tissue::Fat => 1000.0,
            Tissue::CorticalBone => 40.0,
            Tissue::Diploe => 700.0,
            Tissue::Csf => 180.0,
            Tissue::GreyMatter => 520.0,
            Tissue::WhiteMatter => 680.0,
            Tissue::Ventricle => 170.0,
            Tissue::TumourCore => 380.0,
            Tissue::TumourRim => 1150.0,
            Tissue::Artery => 30.0,
            Tissue::Sinus => 60.0,
            Tissue::Nerve => 860.0,
        }
    }
}

/// The truth motion: maps a point of the MR's patient space to the CT's (LPS mm). Rotations of
/// 5, -7 and 9 degrees about the L, P and S axes and a shift of (6, -11, 8) mm: about 12 degrees
/// and 15 mm in all, what registration is asked to recover.
pub fn ct_from_mr() -> Isometry3<f64> {
    let r = Rotation3::from_euler_angles(5f64.to_radians(), -7f64.to_radians(), 9f64.to_radians());
    Isometry3::from_parts(Translation3::new(6.0, -11.0, 8.0), UnitQuaternion::from_rotation_matrix(&r))
}

/// The MR's grid in its own patient space: centred 8 mm above the head's centre, so that the
/// field of view keeps the skull base and the optic nerves and leaves out the bottom of the head;
/// rows along L, columns tilted from P toward S.
pub fn grid() -> Grid {
    let centre = ct_from_mr().inverse() * (CENTRE_MM + Vector3::new(0.0, 0.0, 8.0));
    let tilt = Rotation3::from_axis_angle(&Vector3::x_axis(), MR_TILT_DEG.to_radians());
    let linear = tilt.matrix() * nalgebra::Matrix3::from_diagonal(&Vector3::from(MR_SPACING_MM));
    let half = Vector3::from_fn(|a, _| (MR_DIMS[a] - 1) as f64 / 2.0);
    let origin = centre - linear * half;
    let mut m = Matrix4::identity();
    m.fixed_view_mut::<3, 3>(0, 0).copy_from(&linear);
    m.fixed_view_mut::<3, 1>(0, 3).copy_from(&origin.coords);
    Grid::new(MR_DIMS, m)
}

/// The phantom's MR identity: the same patient, scanned the next day.
pub fn meta() -> VolumeMeta {
    let ct = super::meta();
    let mut meta = VolumeMeta {
        series_uid: crate::core::dicom::write::uid_from_name("twinplan phantom v1 mr/series"),
        modality: "MR".into(),
        description: "Synthetic head phantom, T1 after gadolinium (twinplan)".into(),
        study_date: "20260102".into(),
        unit: String::new(),
        window: Some((600.0, 1200.0)),
        ..ct
    };
    meta.identifying = [&meta.series_uid, &meta.description, &meta.patient_name, &meta.patient_id, &meta.study_date]
        .map(|s| s.clone())
        .to_vec();
    meta
}

/// Generates the MR of `anatomy` (a few seconds on two cores). Values are the noisy signal's
/// magnitude, as an MR scanner reconstructs it.
pub fn generate(anatomy: &Anatomy) -> Volume {
    let grid = grid();
    let (values, _) = record(&grid, anatomy, &ct_from_mr(), Tissue::t1, MR_NOISE_SD, MR_SEED);
    let data = values.iter().map(|v| v.abs().round().min(4095.0) as i16).collect();
    Volume { grid, data: VoxelData::I16(data), meta: meta(), warnings: vec![] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    #[test]
    fn the_field_of_view_holds_the_nerves_and_the_tumour_and_cuts_the_bottom_of_the_head() {
        let a = Anatomy::new(CENTRE_MM);
        let g = grid();
        let inside = |p: &Point3<f64>| {
            let v = g.voxel_point(&(ct_from_mr().inverse() * p)).unwrap();
            (0..3).all(|i| v[i] >= 0.0 && v[i] <= (g.dims[i] - 1) as f64)
        };
        for t in &a.nerves {
            assert!(inside(&t.from) && inside(&t.to), "{t:?}");
        }
        assert!(inside(&a.tumour_centre));
        let [_, _, height] = a.head.semi_axes_mm;
        assert!(inside(&(a.head.centre + Vector3::new(0.0, 0.0, height - 1.0))));
        assert!(!inside(&(a.head.centre - Vector3::new(0.0, 0.0, height - 1.0))));
    }
}
