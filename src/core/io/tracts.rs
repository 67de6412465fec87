//! Streamlines from tractography: MRtrix `.tck` (points in scanner RAS mm) and TrackVis `.trk`
//! (points in the reference image's voxel millimetres, taken to scanner RAS by its header's
//! voxel-to-RAS matrix after the voxel-order correction nibabel and TrackVis apply). Returned in
//! LPS mm, as everything in core. Checked against nibabel's reader (tests/tracts.rs).

use std::path::{Path, PathBuf};

use nalgebra::{Matrix4, Point3};

#[derive(Debug, thiserror::Error)]
pub enum TractError {
    #[error("{path}: cannot read: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path}: not a {format} tract file as expected: {detail}")]
    Invalid { path: PathBuf, format: &'static str, detail: String },
}

/// The streamlines of a file, each a line of points in LPS mm.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracts {
    pub streamlines: Vec<Vec<Point3<f64>>>,
}

impl Tracts {
    pub fn points(&self) -> impl Iterator<Item = &Point3<f64>> {
        self.streamlines.iter().flatten()
    }
}

/// Reads a `.tck` or `.trk` file (told by its name, in any case).
pub fn read(path: &Path) -> Result<Tracts, TractError> {
    let name = path.to_string_lossy().to_lowercase();
    let bytes = std::fs::read(path).map_err(|e| TractError::Read { path: path.to_owned(), detail: e.to_string() })?;
    let lps = |ras: [f64; 3]| Point3::new(-ras[0], -ras[1], ras[2]);
    let streamlines = if name.ends_with(".tck") {
        read_tck(&bytes).map_err(|detail| TractError::Invalid {
            path: path.to_owned(),
            format: "MRtrix .tck",
            detail,
        })?
    } else if name.ends_with(".trk") {
        read_trk(&bytes).map_err(|detail| TractError::Invalid {
            path: path.to_owned(),
            format: "TrackVis .trk",
            detail,
        })?
    } else {
        return Err(TractError::Read {
            path: path.to_owned(),
            detail: "the name should end in .tck (MRtrix) or .trk (TrackVis)".into(),
        });
    };
    Ok(Tracts { streamlines: streamlines.into_iter().map(|s| s.into_iter().map(lps).collect()).collect() })
}

/// MRtrix: a text header ("mrtrix tracks", key: value lines, END), the data at the offset its
/// `file:` line names, point triplets; NaNs end a streamline, infinities the file.
fn read_tck(bytes: &[u8]) -> Result<Vec<Vec<[f64; 3]>>, String> {
    let end = find(bytes, b"\nEND\n").ok_or("the header has no END line")?;
    let header = std::str::from_utf8(&bytes[..end]).map_err(|_| "the header is not text")?;
    let mut lines = header.lines();
    if lines.next().map(str::trim) != Some("mrtrix tracks") {
        return Err("the first line is not 'mrtrix tracks'".into());
    }
    let field = |key: &str| {
        header
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_owned()))
    };
    let datatype = field("datatype").ok_or("no datatype line")?;
    let (size, big_endian) = match datatype.as_str() {
        "Float32LE" => (4, false),
        "Float32BE" => (4, true),
        "Float64LE" => (8, false),
        "Float64BE" => (8, true),
        other => return Err(format!("datatype {other} (Float32LE, Float32BE, Float64LE or Float64BE expected)")),
    };
    let file = field("file").ok_or("no file line")?;
    let offset: usize = match file.split_whitespace().collect::<Vec<_>>().as_slice() {
        [".", offset] => offset.parse().map_err(|_| format!("file offset '{offset}' is not a number"))?,
        _ => return Err(format!("file '{file}': only data in the same file ('. OFFSET') is read")),
    };
    if offset < end || offset > bytes.len() {
        return Err(format!("the data offset {offset} lies outside the file ({} bytes)", bytes.len()));
    }
    let value = |chunk: &[u8]| -> f64 {
        match (size, big_endian) {
            (4, false) => f64::from(f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
            (4, true) => f64::from(f32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
            (_, false) => f64::from_le_bytes(std::array::from_fn(|i| chunk[i])),
            (_, true) => f64::from_be_bytes(std::array::from_fn(|i| chunk[i])),
        }
    };
    let mut streamlines = Vec::new();
    let mut current = Vec::new();
    for triplet in bytes[offset..].chunks_exact(3 * size) {
        let p = [value(&triplet[..size]), value(&triplet[size..2 * size]), value(&triplet[2 * size..])];
        if p.iter().any(|c| c.is_infinite()) {
            break;
        }
        if p.iter().any(|c| c.is_nan()) {
            if !current.is_empty() {
                streamlines.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.push(p);
    }
    // A file cut short loses only its unfinished streamline.
    Ok(streamlines)
}

/// TrackVis: a 1000-byte header, then per streamline its point count, the points (with any
/// scalars) and its properties.
fn read_trk(bytes: &[u8]) -> Result<Vec<Vec<[f64; 3]>>, String> {
    if bytes.len() < 1000 || &bytes[..5] != b"TRACK" {
        return Err("no TRACK header of 1000 bytes".into());
    }
    let big_endian = match (i32::from_le_bytes(quad(bytes, 996)), i32::from_be_bytes(quad(bytes, 996))) {
        (1000, _) => false,
        (_, 1000) => true,
        (size, _) => return Err(format!("the header size field says {size}, not 1000")),
    };
    let int =
        |at: usize| if big_endian { i32::from_be_bytes(quad(bytes, at)) } else { i32::from_le_bytes(quad(bytes, at)) };
    let short = |at: usize| {
        let b = [bytes[at], bytes[at + 1]];
        i64::from(if big_endian { i16::from_be_bytes(b) } else { i16::from_le_bytes(b) })
    };
    let float = |at: usize| {
        f64::from(if big_endian { f32::from_be_bytes(quad(bytes, at)) } else { f32::from_le_bytes(quad(bytes, at)) })
    };
    let dims = [short(6), short(8), short(10)];
    let voxel_mm = [float(12), float(16), float(20)];
    if voxel_mm.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(format!("voxel sizes {voxel_mm:?} are not all above zero"));
    }
    let (scalars, properties) = (short(36).max(0) as usize, short(238).max(0) as usize);
    let ras_from_voxel = Matrix4::from_fn(|r, c| float(440 + 4 * (4 * r + c)));
    if ras_from_voxel[(3, 3)] == 0.0 {
        return Err("the header has no voxel-to-RAS matrix (a version 1 file): its scanner space is unknown".into());
    }
    let order = String::from_utf8_lossy(&bytes[948..951]).to_uppercase();
    let flips = voxel_order_flips(&order, &ras_from_voxel)?;
    // Voxel millimetres (corner of the first voxel at 0) to voxel indices, corrected for the
    // voxel order, then to RAS.
    let to_ras = |p: [f64; 3]| -> [f64; 3] {
        let v: [f64; 3] = std::array::from_fn(|a| {
            let x = p[a] / voxel_mm[a] - 0.5;
            if flips[a] { (dims[a] - 1) as f64 - x } else { x }
        });
        let r = ras_from_voxel.transform_point(&Point3::new(v[0], v[1], v[2]));
        [r.x, r.y, r.z]
    };
    let count = int(988).max(0) as usize;
    let mut streamlines = Vec::new();
    let mut at = 1000;
    while at + 4 <= bytes.len() && (count == 0 || streamlines.len() < count) {
        let n = int(at);
        if n < 0 {
            return Err(format!("streamline {} has {n} points", streamlines.len() + 1));
        }
        let n = n as usize;
        let size = 4 + 4 * (n * (3 + scalars) + properties);
        if at + size > bytes.len() {
            return Err(format!("streamline {} runs past the end of the file", streamlines.len() + 1));
        }
        let points = (0..n)
            .map(|i| {
                let p = at + 4 + 4 * i * (3 + scalars);
                to_ras([float(p), float(p + 4), float(p + 8)])
            })
            .collect();
        streamlines.push(points);
        at += size;
    }
    if count > 0 && streamlines.len() < count {
        return Err(format!("the header counts {count} streamlines, the file holds {}", streamlines.len()));
    }
    Ok(streamlines)
}

/// Which voxel axes the header's voxel order runs against the matrix's (TrackVis flips them before
/// applying the matrix). An order that permutes the axes is refused, not guessed.
fn voxel_order_flips(order: &str, ras_from_voxel: &Matrix4<f64>) -> Result<[bool; 3], String> {
    let letters: Vec<char> = order.trim_end_matches('\0').chars().collect();
    if letters.len() != 3 {
        return Ok([false; 3]);
    }
    let axis_of = |c: char| match c {
        'R' => Some((0, 1.0)),
        'L' => Some((0, -1.0)),
        'A' => Some((1, 1.0)),
        'P' => Some((1, -1.0)),
        'S' => Some((2, 1.0)),
        'I' => Some((2, -1.0)),
        _ => None,
    };
    let mut flips = [false; 3];
    for (a, &c) in letters.iter().enumerate() {
        let Some((axis, sign)) = axis_of(c) else {
            return Err(format!("voxel order '{order}' is not three of R/L, A/P, S/I"));
        };
        // The RAS axis the matrix sends this voxel axis along most.
        let column = ras_from_voxel.fixed_view::<3, 1>(0, a);
        let (main, value) =
            (0..3).map(|r| (r, column[r])).max_by(|x, y| x.1.abs().total_cmp(&y.1.abs())).unwrap_or((0, 0.0));
        if main != axis {
            return Err(format!(
                "voxel order '{order}' permutes the axes of the voxel-to-RAS matrix; such files are not read"
            ));
        }
        flips[a] = value * sign < 0.0;
    }
    Ok(flips)
}

fn quad(bytes: &[u8], at: usize) -> [u8; 4] {
    [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
