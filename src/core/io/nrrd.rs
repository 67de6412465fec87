//! NRRD volumes (Teem's format, 3D Slicer's default): a text header, then raw, gzip or text
//! data, attached or in a detached file (`.nhdr` beside its data). Geometry comes from `space`,
//! `space directions` and `space origin`, converted to LPS here and nowhere else.

use std::io::Read;
use std::path::{Path, PathBuf};

use nalgebra::{Matrix4, Vector3};

use crate::core::volume::Grid;

#[derive(Debug, thiserror::Error)]
pub enum NrrdError {
    #[error("{path}: not a readable NRRD file: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
}

/// A NRRD header: what the volume is and where its samples are.
#[derive(Debug, Clone)]
pub struct NrrdHeader {
    pub grid: Grid,
    /// The sample type's name as written ("short", "float"...), its size and whether it is a
    /// float, signed integer or unsigned integer.
    sample: Sample,
    big_endian: bool,
    encoding: Encoding,
    /// Where the samples are: this file after the header, or a detached data file.
    data_file: PathBuf,
    data_offset: u64,
    byte_skip: i64,
    line_skip: usize,
    pub content: String,
    /// What the reader had to assume, for the user.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sample {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Sample {
    fn parse(name: &str) -> Option<Sample> {
        Some(match name {
            "signed char" | "int8" | "int8_t" => Sample::I8,
            "uchar" | "unsigned char" | "uint8" | "uint8_t" => Sample::U8,
            "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => Sample::I16,
            "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => Sample::U16,
            "int" | "signed int" | "int32" | "int32_t" => Sample::I32,
            "uint" | "unsigned int" | "uint32" | "uint32_t" => Sample::U32,
            "longlong"
            | "long long"
            | "long long int"
            | "signed long long"
            | "signed long long int"
            | "int64"
            | "int64_t" => Sample::I64,
            "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => Sample::U64,
            "float" => Sample::F32,
            "double" => Sample::F64,
            _ => return None,
        })
    }

    fn bytes(self) -> usize {
        match self {
            Sample::I8 | Sample::U8 => 1,
            Sample::I16 | Sample::U16 => 2,
            Sample::I32 | Sample::U32 | Sample::F32 => 4,
            Sample::I64 | Sample::U64 | Sample::F64 => 8,
        }
    }

    pub fn integer(self) -> bool {
        !matches!(self, Sample::F32 | Sample::F64)
    }

    /// One sample from its bytes (in the file's byte order).
    fn value(self, b: &[u8], big: bool) -> f64 {
        macro_rules! num {
            ($t:ty) => {{
                let a = b.try_into().expect("sample width");
                (if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
            }};
        }
        match self {
            Sample::I8 => b[0] as i8 as f64,
            Sample::U8 => b[0] as f64,
            Sample::I16 => num!(i16),
            Sample::U16 => num!(u16),
            Sample::I32 => num!(i32),
            Sample::U32 => num!(u32),
            Sample::I64 => num!(i64),
            Sample::U64 => num!(u64),
            Sample::F32 => num!(f32),
            Sample::F64 => num!(f64),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Raw,
    Gzip,
    Text,
}

/// The most header text read before giving up on finding its end.
const MAX_HEADER: u64 = 1 << 20;

/// Reads a NRRD header (attached or detached), without the samples.
pub fn read_header(path: &Path) -> Result<NrrdHeader, NrrdError> {
    let read_err = |detail: String| NrrdError::Read { path: path.to_owned(), detail };
    let bad = |detail: String| NrrdError::Invalid { path: path.to_owned(), detail };
    let mut prefix = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_HEADER).read_to_end(&mut prefix))
        .map_err(|e| read_err(e.to_string()))?;
    if !prefix.starts_with(b"NRRD000") {
        return Err(read_err("it does not start with the NRRD magic (NRRD0001..NRRD0005)".into()));
    }
    // The header ends at the first empty line (attached data follows), or with the file.
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut offset = 0usize;
    let mut ended = false;
    for line in prefix.split_inclusive(|&b| b == b'\n') {
        offset += line.len();
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        if fields.is_empty() && text.starts_with("NRRD") {
            fields.push(("magic".into(), text.into()));
            continue;
        }
        if text.is_empty() {
            ended = true;
            break;
        }
        if text.starts_with('#') || text.contains(":=") {
            continue; // a comment, or a key/value pair of no concern to geometry or samples
        }
        let Some((k, v)) = text.split_once(": ") else {
            return Err(bad(format!("header line '{text}' is not 'field: value'")));
        };
        fields.push((k.trim().to_lowercase(), v.trim().to_owned()));
    }
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
    let need = |k: &str| get(k).ok_or_else(|| bad(format!("the header has no '{k}' field")));

    let sample = Sample::parse(need("type")?)
        .ok_or_else(|| bad(format!("sample type '{}' is not supported", need("type").unwrap_or(""))))?;
    let sizes: Vec<usize> = need("sizes")?
        .split_whitespace()
        .map(|s| s.parse().map_err(|_| bad(format!("sizes '{s}' is not a whole number"))))
        .collect::<Result<_, _>>()?;
    let dimension: usize = need("dimension")?.parse().map_err(|_| bad("dimension is not a number".into()))?;
    if sizes.len() != dimension {
        return Err(bad(format!("dimension {dimension} but {} sizes", sizes.len())));
    }
    let mut warnings = Vec::new();
    // Directions per axis: `None` for a non-spatial axis (written "none").
    let directions: Vec<Option<Vector3<f64>>> = match get("space directions") {
        Some(d) => d.split_whitespace().map(parse_vector).collect::<Result<_, _>>().map_err(bad)?,
        None => {
            let spacings: Vec<f64> = get("spacings")
                .map(|s| s.split_whitespace().map(|x| x.parse::<f64>().unwrap_or(f64::NAN)).collect())
                .unwrap_or_default();
            warnings.push("no 'space directions': axis-aligned voxels assumed, placed at the origin".into());
            (0..dimension)
                .map(|a| {
                    let s = spacings.get(a).copied().filter(|s| s.is_finite() && *s > 0.0).unwrap_or(1.0);
                    (a < 3).then(|| Vector3::from_fn(|r, _| if r == a { s } else { 0.0 }))
                })
                .collect()
        }
    };
    if directions.len() != dimension {
        return Err(bad(format!("{} space directions for {dimension} axes", directions.len())));
    }
    // A single 3D volume: the spatial axes, and any other axis of size 1.
    let spatial: Vec<usize> = (0..dimension).filter(|&a| directions[a].is_some()).collect();
    if spatial.len() != 3 || (0..dimension).any(|a| directions[a].is_none() && sizes[a] != 1) {
        return Err(bad(format!("sizes {sizes:?} with {} spatial axes: expected a single 3D volume", spatial.len())));
    }
    let lps_from_space = match get("space").unwrap_or("left-posterior-superior").to_lowercase().as_str() {
        "left-posterior-superior" | "lps" => Vector3::new(1.0, 1.0, 1.0),
        "right-anterior-superior" | "ras" => Vector3::new(-1.0, -1.0, 1.0),
        "left-anterior-superior" | "las" => Vector3::new(1.0, -1.0, 1.0),
        other => {
            warnings.push(format!("space '{other}' is not anatomical: its axes were taken as LPS"));
            Vector3::new(1.0, 1.0, 1.0)
        }
    };
    let origin = match get("space origin") {
        Some(o) => parse_vector(o).map_err(bad)?.ok_or_else(|| bad("space origin is 'none'".into()))?,
        None => Vector3::zeros(),
    };
    let mut m = Matrix4::identity();
    for (c, &a) in spatial.iter().enumerate() {
        let d = directions[a].expect("spatial").component_mul(&lps_from_space);
        m.fixed_view_mut::<3, 1>(0, c).copy_from(&d);
    }
    m.fixed_view_mut::<3, 1>(0, 3).copy_from(&origin.component_mul(&lps_from_space));
    if m.fixed_view::<3, 3>(0, 0).determinant().abs() < 1e-12 {
        return Err(bad("the space directions are degenerate".into()));
    }
    let dims = [sizes[spatial[0]], sizes[spatial[1]], sizes[spatial[2]]];
    if dims.contains(&0) {
        return Err(bad(format!("empty sizes {sizes:?}")));
    }
    let encoding = match need("encoding")?.to_lowercase().as_str() {
        "raw" => Encoding::Raw,
        "gzip" | "gz" => Encoding::Gzip,
        "text" | "txt" | "ascii" => Encoding::Text,
        other => return Err(bad(format!("encoding '{other}' is not supported (raw, gzip or text)"))),
    };
    let big_endian = get("endian").is_some_and(|e| e.eq_ignore_ascii_case("big"));
    let (data_file, data_offset) = match get("data file").or(get("datafile")) {
        Some(f) if f.starts_with("LIST") || f.contains('%') => {
            return Err(bad(format!("data file '{f}' lists several files; one data file is supported")));
        }
        Some(f) => (path.parent().unwrap_or(Path::new(".")).join(f), 0),
        None if ended => (path.to_owned(), offset as u64),
        None => return Err(bad("the header never ends (no empty line before the data)".into())),
    };
    let number = |k: &str| get(k).map(|v| v.parse::<i64>().map_err(|_| bad(format!("{k} '{v}' is not a number"))));
    Ok(NrrdHeader {
        grid: Grid::new(dims, m),
        sample,
        big_endian,
        encoding,
        data_file,
        data_offset,
        byte_skip: number("byte skip").transpose()?.unwrap_or(0),
        line_skip: number("line skip").transpose()?.unwrap_or(0).max(0) as usize,
        content: get("content").unwrap_or_default().to_owned(),
        warnings,
    })
}

/// "(x,y,z)" as a vector, or `None` for "none".
fn parse_vector(s: &str) -> Result<Option<Vector3<f64>>, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let inner = s.strip_prefix('(').and_then(|t| t.strip_suffix(')')).ok_or_else(|| format!("'{s}' is not (x,y,z)"))?;
    let v: Vec<f64> = inner
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("'{s}' is not (x,y,z)"))?;
    match v[..] {
        [x, y, z] if v.iter().all(|c| c.is_finite()) => Ok(Some(Vector3::new(x, y, z))),
        _ => Err(format!("'{s}' is not three finite numbers")),
    }
}

impl NrrdHeader {
    pub fn integer(&self) -> bool {
        self.sample.integer()
    }

    /// The samples, i fastest, as the file stores them.
    pub fn read_values(&self) -> Result<Vec<f64>, NrrdError> {
        let path = &self.data_file;
        let read_err = |detail: String| NrrdError::Read { path: path.to_owned(), detail };
        let bad = |detail: String| NrrdError::Invalid { path: path.to_owned(), detail };
        let n = self.grid.voxel_count();
        let mut file = std::fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
        let mut bytes = Vec::new();
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(self.data_offset))
            .map_err(|e| read_err(e.to_string()))?;
        file.read_to_end(&mut bytes).map_err(|e| read_err(e.to_string()))?;
        // Line skip counts lines of the data file before the data (detached headers).
        for _ in 0..self.line_skip {
            let at =
                bytes.iter().position(|&b| b == b'\n').ok_or_else(|| bad("fewer lines than 'line skip'".into()))?;
            bytes.drain(..=at);
        }
        if self.encoding == Encoding::Gzip {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .map_err(|e| read_err(format!("gzip: {e}")))?;
            bytes = out;
        }
        if self.encoding == Encoding::Text {
            let text = String::from_utf8_lossy(&bytes);
            let values: Vec<f64> = text
                .split_whitespace()
                .take(n)
                .map(|t| t.parse::<f64>().map_err(|_| bad(format!("'{t}' is not a number"))))
                .collect::<Result<_, _>>()?;
            if values.len() < n {
                return Err(bad(format!("{} values, {n} expected", values.len())));
            }
            return Ok(values);
        }
        let width = self.sample.bytes();
        let needed = n * width;
        let start = match self.byte_skip {
            -1 => bytes
                .len()
                .checked_sub(needed)
                .ok_or_else(|| bad(format!("{} bytes of data, {needed} expected", bytes.len())))?,
            s if s >= 0 => s as usize,
            s => return Err(bad(format!("byte skip {s} is not supported"))),
        };
        let data = bytes
            .get(start..start + needed)
            .ok_or_else(|| bad(format!("{} bytes of data, {needed} expected after skipping {start}", bytes.len())))?;
        Ok(data.chunks_exact(width).map(|b| self.sample.value(b, self.big_endian)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    #[test]
    fn reads_an_attached_text_volume_in_ras() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.nrrd");
        let head = "NRRD0004\n# a comment\ntype: short\ndimension: 3\nspace: right-anterior-superior\nsizes: 2 1 2\n\
                    space directions: (2,0,0) (0,3,0) (0,0,4)\nspace origin: (10,20,30)\nencoding: ascii\nkey:=value\n\n";
        std::fs::write(&path, format!("{head}1 2\n3 -4\n")).unwrap();
        let h = read_header(&path).unwrap();
        assert_eq!(h.grid.dims, [2, 1, 2]);
        let p = h.grid.patient_point(Point3::new(1.0, 0.0, 1.0));
        assert_eq!([p.x, p.y, p.z], [-12.0, -20.0, 34.0], "RAS to LPS");
        assert_eq!(h.read_values().unwrap(), [1.0, 2.0, 3.0, -4.0]);
        std::fs::write(&path, "NRRD0004\ntype: short\ndimension: 4\nsizes: 3 2 2 2\nencoding: raw\n\n").unwrap();
        assert!(read_header(&path).unwrap_err().to_string().contains("single 3D volume"));
        std::fs::write(&path, "P6\n").unwrap();
        assert!(read_header(&path).unwrap_err().to_string().contains("NRRD magic"));
    }
}
