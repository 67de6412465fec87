//! Writing meshes for 3D printing and other tools: STL (binary or ASCII), OBJ and PLY, in LPS or
//! RAS millimetres. The frame is written into every file (STL header or solid name, OBJ/PLY
//! comment) so nobody has to guess it.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use nalgebra::Point3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Mesh;
use crate::core::volume::ras_from_lps;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Frame {
    /// DICOM patient space: x left, y posterior, z superior.
    #[default]
    Lps,
    /// 3D Slicer / NIfTI world: x right, y anterior, z superior.
    Ras,
}

impl Frame {
    pub fn name(self) -> &'static str {
        match self {
            Frame::Lps => "LPS",
            Frame::Ras => "RAS",
        }
    }

    /// A patient point (LPS) in this frame.
    pub fn point(self, lps: &Point3<f64>) -> Point3<f64> {
        match self {
            Frame::Lps => *lps,
            Frame::Ras => ras_from_lps().transform_point(lps),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    StlBinary,
    StlAscii,
    Obj,
    Ply,
}

impl Format {
    /// From the file name's extension; `ascii` picks ASCII STL.
    pub fn from_path(path: &Path, ascii: bool) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "stl" if ascii => Some(Format::StlAscii),
            "stl" => Some(Format::StlBinary),
            "obj" => Some(Format::Obj),
            "ply" => Some(Format::Ply),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot write the mesh: {error}")]
pub struct ExportError {
    pub path: PathBuf,
    /// Not a `source`: the message already says it, and error chains would say it twice.
    pub error: std::io::Error,
}

/// Writes `mesh` (in LPS) to `path` in `format`, converted to `frame`.
pub fn write(mesh: &Mesh, path: &Path, format: Format, frame: Frame, name: &str) -> Result<(), ExportError> {
    let m = match frame {
        Frame::Lps => std::borrow::Cow::Borrowed(mesh),
        Frame::Ras => std::borrow::Cow::Owned(mesh.transformed(&ras_from_lps())),
    };
    let err = |error| ExportError { path: path.to_owned(), error };
    let file = std::fs::File::create(path).map_err(err)?;
    let mut w = BufWriter::new(file);
    // The frame first: STL headers keep only 80 bytes.
    let label = format!("twinplan, frame {} (mm): {name}", frame.name());
    match format {
        Format::StlBinary => stl_binary(&m, &mut w, &label),
        Format::StlAscii => stl_ascii(&m, &mut w, &label),
        Format::Obj => obj(&m, &mut w, &label),
        Format::Ply => ply(&m, &mut w, &label),
    }
    .and_then(|_| w.flush())
    .map_err(err)
}

fn face_normal(m: &Mesh, t: &[u32; 3]) -> [f32; 3] {
    let p = t.map(|i| m.positions[i as usize]);
    let u = [p[1][0] - p[0][0], p[1][1] - p[0][1], p[1][2] - p[0][2]];
    let v = [p[2][0] - p[0][0], p[2][1] - p[0][1], p[2][2] - p[0][2]];
    let n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    if len > 0.0 { n.map(|x| x / len) } else { [0.0; 3] }
}

/// Binary STL: 50-byte records made in parallel, a block at a time, so that writing keeps up
/// with the disk.
fn stl_binary(m: &Mesh, w: &mut impl Write, label: &str) -> std::io::Result<()> {
    const RECORD: usize = 50;
    const BLOCK: usize = 1 << 16;
    let mut header = [b' '; 80];
    let bytes = label.as_bytes();
    header[..bytes.len().min(80)].copy_from_slice(&bytes[..bytes.len().min(80)]);
    w.write_all(&header)?;
    w.write_all(&(m.triangles.len() as u32).to_le_bytes())?;
    let mut buf = vec![0u8; BLOCK * RECORD];
    for block in m.triangles.chunks(BLOCK) {
        let out = &mut buf[..block.len() * RECORD];
        out.par_chunks_mut(RECORD).zip(block.par_iter()).for_each(|(r, t)| {
            let values = face_normal(m, t).into_iter().chain(t.iter().flat_map(|&v| m.positions[v as usize]));
            for (k, x) in values.enumerate() {
                r[4 * k..4 * k + 4].copy_from_slice(&x.to_le_bytes());
            }
            r[48..50].fill(0);
        });
        w.write_all(out)?;
    }
    Ok(())
}

fn stl_ascii(m: &Mesh, w: &mut impl Write, label: &str) -> std::io::Result<()> {
    let name = label.replace(' ', "_");
    writeln!(w, "solid {name}")?;
    for t in &m.triangles {
        let n = face_normal(m, t);
        writeln!(w, "  facet normal {:e} {:e} {:e}", n[0], n[1], n[2])?;
        writeln!(w, "    outer loop")?;
        for &v in t {
            let p = m.positions[v as usize];
            writeln!(w, "      vertex {:e} {:e} {:e}", p[0], p[1], p[2])?;
        }
        writeln!(w, "    endloop")?;
        writeln!(w, "  endfacet")?;
    }
    writeln!(w, "endsolid {name}")
}

fn obj(m: &Mesh, w: &mut impl Write, label: &str) -> std::io::Result<()> {
    writeln!(w, "# {label}")?;
    writeln!(w, "# {} vertices, {} triangles", m.positions.len(), m.triangles.len())?;
    for p in &m.positions {
        writeln!(w, "v {} {} {}", p[0], p[1], p[2])?;
    }
    for n in m.vertex_normals() {
        writeln!(w, "vn {} {} {}", n[0], n[1], n[2])?;
    }
    for t in &m.triangles {
        let [a, b, c] = t.map(|v| v + 1);
        writeln!(w, "f {a}//{a} {b}//{b} {c}//{c}")?;
    }
    Ok(())
}

fn ply(m: &Mesh, w: &mut impl Write, label: &str) -> std::io::Result<()> {
    write!(
        w,
        "ply\nformat binary_little_endian 1.0\ncomment {label}\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\n\
         property float nx\nproperty float ny\nproperty float nz\nelement face {}\nproperty list uchar uint vertex_indices\nend_header\n",
        m.positions.len(),
        m.triangles.len()
    )?;
    for (p, n) in m.positions.iter().zip(m.vertex_normals()) {
        for x in p.iter().chain(n.iter()) {
            w.write_all(&x.to_le_bytes())?;
        }
    }
    for t in &m.triangles {
        w.write_all(&[3])?;
        for &v in t {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    Ok(())
}
