//! NIfTI-1 volumes and label maps. NIfTI speaks RAS; we speak LPS: the conversion happens here
//! and nowhere else (`patient_from_voxel = lps_from_ras * ras_from_voxel`).

use std::path::{Path, PathBuf};

use nalgebra::{Matrix3, Matrix4, Rotation3, UnitQuaternion, Vector3};
use ndarray::{ArrayView3, ShapeBuilder};
use nifti::writer::WriterOptions;
use nifti::{InMemNiftiObject, NiftiHeader, NiftiObject, NiftiType};

use crate::core::volume::{Grid, VoxelData, ras_from_lps};

#[derive(Debug, thiserror::Error)]
pub enum NiftiError {
    #[error("{path}: not a readable NIfTI-1 file: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path}: cannot write NIfTI: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
}

/// Voxels read from a NIfTI file, with their grid in LPS.
#[derive(Debug, Clone)]
pub struct NiftiVolume {
    pub grid: Grid,
    /// Values after scl_slope / scl_inter.
    pub values: Vec<f32>,
    /// The file stores integers and no scaling was applied (a label map).
    pub integer: bool,
    pub description: String,
    /// What the reader had to choose or assume, for the user.
    pub warnings: Vec<String>,
}

/// A NIfTI file's geometry and description, from its header alone.
#[derive(Debug, Clone)]
pub struct NiftiGeometry {
    pub grid: Grid,
    pub description: String,
    pub warnings: Vec<String>,
}

/// Reads a NIfTI-1 file's header (the data stays on disk).
pub fn read_header(path: &Path) -> Result<NiftiGeometry, NiftiError> {
    let h = NiftiHeader::from_reader(source(path)?).map_err(|e| read_error(path, &e))?;
    let (grid, warnings) = geometry(&h, path)?;
    Ok(NiftiGeometry { grid, description: description(&h), warnings })
}

/// The file's bytes, decompressed when they are gzip: told by the bytes, not by the name (the
/// crate knows only a lower-case `.gz`, so `OUT.NII.GZ` did not open).
fn source(path: &Path) -> Result<Box<dyn std::io::Read>, NiftiError> {
    use std::io::{BufRead, BufReader};
    let err = |e: std::io::Error| NiftiError::Read { path: path.to_owned(), detail: e.to_string() };
    let mut file = BufReader::new(std::fs::File::open(path).map_err(err)?);
    let gz = file.fill_buf().map_err(err)?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz { Box::new(flate2::bufread::MultiGzDecoder::new(file)) } else { Box::new(file) })
}

fn read_error(path: &Path, e: &nifti::NiftiError) -> NiftiError {
    let detail = match e {
        nifti::NiftiError::InvalidFormat => "not a NIfTI-1 file (NIfTI-2 and Analyze are not read)".to_owned(),
        other => other.to_string(),
    };
    NiftiError::Read { path: path.to_owned(), detail }
}

fn description(h: &NiftiHeader) -> String {
    String::from_utf8_lossy(&h.descrip).trim_end_matches('\0').trim().to_owned()
}

/// Dimensions and `patient_from_voxel` (LPS) of a header, with what was chosen: the sform where
/// it is set, as the NIfTI standard, nibabel and FSL read it, said so where the qform disagrees.
fn geometry(h: &NiftiHeader, path: &Path) -> Result<(Grid, Vec<String>), NiftiError> {
    let bad = |d: String| NiftiError::Invalid { path: path.to_owned(), detail: d };
    let dim = h.dim;
    let rank = dim[0] as usize;
    if !(1..=7).contains(&rank) || (rank > 3 && dim[4..=rank].iter().any(|&d| d > 1)) {
        return Err(bad(format!("{rank}-dimensional image {:?}, expected a single 3D volume", &dim[1..=rank.min(7)])));
    }
    let dims =
        [dim[1] as usize, if rank >= 2 { dim[2] as usize } else { 1 }, if rank >= 3 { dim[3] as usize } else { 1 }];
    if dims.contains(&0) {
        return Err(bad(format!("empty dimensions {:?}", &dim[1..=rank.min(3)])));
    }
    let patient_from_voxel = ras_from_lps() * ras_from_voxel(h);
    if patient_from_voxel.fixed_view::<3, 3>(0, 0).determinant().abs() < 1e-12 {
        return Err(bad("the voxel-to-world transform is degenerate".into()));
    }
    let grid = Grid::new(dims, patient_from_voxel);
    let mut warnings = Vec::new();
    if h.sform_code > 0 && h.qform_code > 0 {
        let qform = Grid::new(dims, ras_from_lps() * ras_from_qform(h));
        let apart = grid.corners_mm().iter().zip(qform.corners_mm()).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
        if apart > 1e-3 {
            warnings.push(format!(
                "the sform and the qform place the volume up to {apart:.2} mm apart: the sform was used, as the NIfTI \
                 standard and nibabel read it (ITK and SimpleITK take the qform when sform_code is not 1)"
            ));
        }
    } else if h.sform_code <= 0 && h.qform_code <= 0 {
        warnings.push("neither sform nor qform: voxels placed by pixdim at the origin; orientation unknown".into());
    }
    Ok((grid, warnings))
}

/// Writes a scalar volume (i16 as INT16, f32 as FLOAT32).
pub fn write_volume(path: &Path, grid: &Grid, data: &VoxelData, description: &str) -> Result<(), NiftiError> {
    match data {
        VoxelData::I16(v) => write_typed(path, grid, v, description),
        VoxelData::F32(v) => write_typed(path, grid, v, description),
    }
}

/// Writes a label map (UINT8 when every label fits, else UINT16).
pub fn write_labels(path: &Path, grid: &Grid, labels: &[u16], description: &str) -> Result<(), NiftiError> {
    if labels.iter().all(|&l| l <= u8::MAX as u16) {
        let bytes: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
        write_typed(path, grid, &bytes, description)
    } else {
        write_typed(path, grid, labels, description)
    }
}

fn write_typed<T>(path: &Path, grid: &Grid, data: &[T], description: &str) -> Result<(), NiftiError>
where
    T: nifti::DataElement + bytemuck::Pod,
{
    let err = |d: String| NiftiError::Write { path: path.to_owned(), detail: d };
    let [nx, ny, nz] = grid.dims;
    if data.len() != grid.voxel_count() {
        return Err(err(format!("{} values for a {nx} x {ny} x {nz} grid", data.len())));
    }
    if grid.dims.iter().any(|&d| d > u16::MAX as usize) {
        return Err(err(format!("dimensions {nx} x {ny} x {nz} exceed NIfTI-1's 32767 per axis")));
    }
    // Our buffer is i-fastest: Fortran order for shape (nx, ny, nz).
    let view = ArrayView3::from_shape((nx, ny, nz).f(), data).map_err(|e| err(e.to_string()))?;
    let header = header_for(grid, description);
    // The writer compresses by a lower-case `.gz` and renames anything else to a lower-case
    // `.nii`: it writes under a lower-case name beside the file, which is then renamed to the one
    // asked for (`OUT.NII.GZ` stays compressed and keeps its name).
    let gz = path.to_string_lossy().to_lowercase().ends_with(".gz");
    // The crate also replaces the last extension before its own, so the staging name has no
    // other dot ("a.nii" staged as ".a.nii.writing.nii" came out as ".a.nii.nii").
    let name = path.file_name().map(|n| n.to_string_lossy().replace('.', "_")).unwrap_or_default();
    let staging = path.with_file_name(format!(".{name}-writing{}", if gz { ".nii.gz" } else { ".nii" }));
    WriterOptions::new(&staging).reference_header(&header).write_nifti(&view).map_err(|e| {
        let _ = std::fs::remove_file(&staging);
        match e {
            nifti::NiftiError::Io(io) => err(io.to_string()),
            e => err(e.to_string()),
        }
    })?;
    std::fs::rename(&staging, path).map_err(|e| {
        let _ = std::fs::remove_file(&staging);
        err(e.to_string())
    })
}

/// sform (exact, shear included) and qform (rotation part, when the grid is not sheared), both
/// scanner-anatomical, in RAS millimetres.
fn header_for(grid: &Grid, description: &str) -> NiftiHeader {
    let ras_from_voxel = ras_from_lps() * grid.patient_from_voxel;
    let row = |r: usize| -> [f32; 4] { std::array::from_fn(|c| ras_from_voxel[(r, c)] as f32) };
    let mut h = NiftiHeader { sform_code: 1, qform_code: 0, xyzt_units: 2, ..NiftiHeader::default() };
    h.srow_x = row(0);
    h.srow_y = row(1);
    h.srow_z = row(2);
    let spacing = grid.spacing_mm();
    h.pixdim = [1.0, spacing[0] as f32, spacing[1] as f32, spacing[2] as f32, 1.0, 1.0, 1.0, 1.0];
    if grid.shear_deg() < 1e-3 {
        let lin: Matrix3<f64> = ras_from_voxel.fixed_view::<3, 3>(0, 0).into_owned();
        let mut dirs = Matrix3::from_columns(&[
            lin.column(0) / spacing[0],
            lin.column(1) / spacing[1],
            lin.column(2) / spacing[2],
        ]);
        // qfac = -1 encodes a left-handed grid: flip the third axis to get a proper rotation.
        let qfac = if dirs.determinant() < 0.0 { -1.0 } else { 1.0 };
        if qfac < 0.0 {
            dirs.set_column(2, &(-dirs.column(2)));
        }
        let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(dirs));
        let q = if q.w < 0.0 { UnitQuaternion::new_unchecked(-q.into_inner()) } else { q };
        h.pixdim[0] = qfac as f32;
        [h.quatern_b, h.quatern_c, h.quatern_d] = quatern_bcd(&q);
        h.quatern_x = ras_from_voxel[(0, 3)] as f32;
        h.quatern_y = ras_from_voxel[(1, 3)] as f32;
        h.quatern_z = ras_from_voxel[(2, 3)] as f32;
        h.qform_code = 1;
    }
    let mut d = description.as_bytes().to_vec();
    d.truncate(79);
    d.resize(80, 0);
    h.descrip = d;
    h
}

/// The stored quaternion parts b, c, d (readers derive a from them). Near a half turn a is
/// about zero, and readers take it as zero only when b² + c² + d² is within 1e-7 of one; plain
/// rounding to f32 can miss that, and the square root of the remainder would tilt the axes by up
/// to a milliradian. So there the largest part is rounded away from zero until it fits.
fn quatern_bcd(q: &UnitQuaternion<f64>) -> [f32; 3] {
    let mut bcd = [q.i as f32, q.j as f32, q.k as f32];
    // Below this, a = 0 is closer than the square root readers would otherwise take.
    if q.w < 1.5e-4 {
        let rest = |v: &[f32; 3]| 1.0 - v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
        let k = (0..3).max_by(|&a, &b| bcd[a].abs().total_cmp(&bcd[b].abs())).unwrap_or(0);
        while rest(&bcd) >= 1e-7 {
            bcd[k] = f32::from_bits(bcd[k].to_bits() + 1); // one step away from zero
        }
    }
    bcd
}

/// The voxel-to-RAS affine the file declares: sform if set, else qform, else scaled identity.
fn ras_from_voxel(h: &NiftiHeader) -> Matrix4<f64> {
    if h.sform_code > 0 {
        let mut m = Matrix4::identity();
        for (r, row) in [h.srow_x, h.srow_y, h.srow_z].iter().enumerate() {
            for c in 0..4 {
                m[(r, c)] = row[c] as f64;
            }
        }
        return m;
    }
    ras_from_qform(h)
}

/// The qform's affine (or scaled identity without one).
fn ras_from_qform(h: &NiftiHeader) -> Matrix4<f64> {
    let pix =
        Vector3::new(h.pixdim[1] as f64, h.pixdim[2] as f64, h.pixdim[3] as f64).map(|p| if p > 0.0 { p } else { 1.0 });
    let mut m = Matrix4::identity();
    if h.qform_code > 0 {
        let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        // As nifti1_io reads it: a rotation of about 180 degrees has a = 0, and b, c, d rounded
        // to f32 may leave 1 - (b² + c² + d²) a little off zero; its square root would tilt
        // the axes by up to a milliradian.
        let rest = 1.0 - (b * b + c * c + d * d);
        let a = if rest < 1e-7 { 0.0 } else { rest.sqrt() };
        let rot = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(a, b, c, d)).to_rotation_matrix();
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let lin = rot.matrix() * Matrix3::from_diagonal(&Vector3::new(pix.x, pix.y, pix.z * qfac));
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&lin);
        m[(0, 3)] = h.quatern_x as f64;
        m[(1, 3)] = h.quatern_y as f64;
        m[(2, 3)] = h.quatern_z as f64;
    } else {
        for a in 0..3 {
            m[(a, a)] = pix[a];
        }
    }
    m
}

/// Reads a 3D NIfTI-1 file (.nii or .nii.gz). A 4D file with one volume is accepted.
pub fn read(path: &Path) -> Result<NiftiVolume, NiftiError> {
    let bad = |d: String| NiftiError::Invalid { path: path.to_owned(), detail: d };
    let obj = InMemNiftiObject::from_reader(source(path)?).map_err(|e| read_error(path, &e))?;
    let h = obj.header().clone();
    let (grid, warnings) = geometry(&h, path)?;
    let dims = grid.dims;
    let datatype = h.data_type().map_err(|e| bad(e.to_string()))?;
    let vol = obj.into_volume();
    let read_err = |e: nifti::NiftiError| NiftiError::Read { path: path.to_owned(), detail: e.to_string() };
    let (mut values, integer): (Vec<f32>, bool) = match datatype {
        NiftiType::Uint8 => {
            (vol.into_nifti_typed_data::<u8>().map_err(read_err)?.into_iter().map(f32::from).collect(), true)
        }
        NiftiType::Int8 => {
            (vol.into_nifti_typed_data::<i8>().map_err(read_err)?.into_iter().map(f32::from).collect(), true)
        }
        NiftiType::Int16 => {
            (vol.into_nifti_typed_data::<i16>().map_err(read_err)?.into_iter().map(f32::from).collect(), true)
        }
        NiftiType::Uint16 => {
            (vol.into_nifti_typed_data::<u16>().map_err(read_err)?.into_iter().map(f32::from).collect(), true)
        }
        NiftiType::Int32 => {
            (vol.into_nifti_typed_data::<i32>().map_err(read_err)?.into_iter().map(|v| v as f32).collect(), true)
        }
        NiftiType::Uint32 => {
            (vol.into_nifti_typed_data::<u32>().map_err(read_err)?.into_iter().map(|v| v as f32).collect(), true)
        }
        NiftiType::Float32 => (vol.into_nifti_typed_data::<f32>().map_err(read_err)?, false),
        NiftiType::Float64 => {
            (vol.into_nifti_typed_data::<f64>().map_err(read_err)?.into_iter().map(|v| v as f32).collect(), false)
        }
        other => {
            return Err(bad(format!(
                "data type {other:?} is not supported (expected an integer or float scalar type)"
            )));
        }
    };
    let n = dims[0] * dims[1] * dims[2];
    if values.len() < n {
        return Err(bad(format!("{} values stored, {n} expected for {dims:?}", values.len())));
    }
    values.truncate(n);
    let scaled = h.scl_slope != 0.0 && (h.scl_slope != 1.0 || h.scl_inter != 0.0);
    if scaled {
        let (s, i) = (h.scl_slope, h.scl_inter);
        values.iter_mut().for_each(|v| *v = *v * s + i);
    }
    Ok(NiftiVolume { grid, values, integer: integer && !scaled, description: description(&h), warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oblique_left_handed_grid_round_trips_through_sform_and_qform() {
        let rot = Rotation3::from_euler_angles(0.2, -0.1, 0.4);
        let lin = rot.matrix() * Matrix3::from_diagonal(&Vector3::new(0.8, 0.9, -1.5));
        let mut m = Matrix4::identity();
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&lin);
        m[(0, 3)] = -12.5;
        m[(1, 3)] = 40.0;
        m[(2, 3)] = 7.25;
        let grid = Grid::new([3, 4, 5], m);
        let h = header_for(&grid, "test");
        let from_s = ras_from_lps() * ras_from_voxel(&h);
        let mut q_only = h.clone();
        q_only.sform_code = 0;
        let from_q = ras_from_lps() * ras_from_voxel(&q_only);
        assert!((from_s - m).amax() < 1e-5, "{from_s} vs {m}");
        assert!((from_q - m).amax() < 1e-5, "{from_q} vs {m}");
    }

    /// A half turn in RAS (an axial LPS grid is one) has a = 0: the qform must still give the
    /// axes to f32 precision, whichever axis it turns about.
    #[test]
    fn half_turn_qforms_are_exact() {
        let mut state = 1u64;
        let mut next = move || {
            state = crate::core::phantom::splitmix(state);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for _ in 0..20_000 {
            let axis = Vector3::new(next(), next(), next()).normalize();
            // A half turn about `axis` in RAS, written as the LPS grid that becomes it.
            let ras = axis * axis.transpose() * 2.0 - Matrix3::identity();
            let lin = Matrix3::from_diagonal(&Vector3::new(-1.0, -1.0, 1.0)) * ras * 3.25;
            let mut m = Matrix4::identity();
            m.fixed_view_mut::<3, 3>(0, 0).copy_from(&lin);
            let mut h = header_for(&Grid::new([2, 2, 2], m), "");
            h.sform_code = 0;
            let from_q = ras_from_lps() * ras_from_voxel(&h);
            assert!((from_q - m).amax() < 1e-5, "axis {axis}: {from_q} vs {m}");
        }
    }

    /// Two in two million half turns (these two axes among them) round to f32 parts that leave
    /// 1 - (b² + c² + d²) just above the 1e-7 readers allow: a 0.3 mrad tilt unless nudged.
    #[test]
    fn half_turn_parts_that_round_short_are_nudged() {
        for [x, y, z] in [
            [0.5055268104327963, -0.5908484744851247, 0.6287612616345287],
            [-0.6011511980876346, 0.6177797002487244, 0.506917625456442],
        ] {
            let rest = |v: [f32; 3]| 1.0 - v.iter().map(|&p| f64::from(p).powi(2)).sum::<f64>();
            assert!(rest([x as f32, y as f32, z as f32]) >= 1e-7, "plain rounding falls short");
            let q = UnitQuaternion::new_unchecked(nalgebra::Quaternion::new(0.0, x, y, z));
            let bcd = quatern_bcd(&q);
            assert!(rest(bcd) < 1e-7, "{}", rest(bcd));
            assert!(bcd.iter().zip([x, y, z]).all(|(&p, e)| (f64::from(p) - e).abs() < 1e-7));
        }
    }

    #[test]
    fn sheared_grid_writes_no_qform() {
        let mut m = Matrix4::identity();
        m[(1, 2)] = 0.3;
        let h = header_for(&Grid::new([2, 2, 2], m), "");
        assert_eq!(h.qform_code, 0);
        assert_eq!(h.sform_code, 1);
    }
}
