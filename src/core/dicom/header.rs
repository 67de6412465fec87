//! Reading one DICOM file: the object itself (with or without a Part 10 header) and the per-frame
//! image headers the series builder needs. Pixel data is decoded elsewhere (`pixels.rs`).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dicom::core::Tag;
use dicom::core::dictionary::UidDictionary;
use dicom::core::header::HasLength;
use dicom::dictionary_std::{StandardSopClassDictionary, tags, uids};
use dicom::encoding::transfer_syntax::TransferSyntaxIndex;
use dicom::object::meta::FileMetaTableBuilder;
use dicom::object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom::transfer_syntax::TransferSyntaxRegistry;
use nalgebra::Vector3;

use super::error::{DicomError, Result};
use super::guard;

/// The largest image plane we accept (rows x columns), checked before any allocation.
pub const MAX_PLANE_PIXELS: u64 = 8192 * 8192;
/// The most frames a single file may declare.
pub const MAX_FRAMES: u32 = 100_000;
/// The most voxels one volume may hold (refused before allocating).
pub const MAX_VOXELS: usize = 1 << 31;

/// How stored pixel values are laid out and must be interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PixelFormat {
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    pub signed: bool,
    pub samples_per_pixel: u16,
    /// MONOCHROME1: low values are displayed bright; we invert so that higher is brighter.
    pub monochrome1: bool,
}

impl PixelFormat {
    /// The range of stored values the format can hold.
    pub fn stored_range(&self) -> (f64, f64) {
        let b = self.bits_stored.clamp(1, 32) as i32;
        if self.signed { (-(2f64.powi(b - 1)), 2f64.powi(b - 1) - 1.0) } else { (0.0, 2f64.powi(b) - 1.0) }
    }

    /// Bytes of `frames` frames (1-bit frames follow each other without padding).
    pub fn bytes_for(&self, rows: u32, cols: u32, frames: u32) -> u64 {
        (rows as u64 * cols as u64 * self.samples_per_pixel as u64 * frames as u64 * self.bits_allocated as u64)
            .div_ceil(8)
    }
}

/// Modality rescale: value = slope * stored + intercept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rescale {
    pub slope: f64,
    pub intercept: f64,
}

impl Default for Rescale {
    fn default() -> Self {
        Rescale { slope: 1.0, intercept: 0.0 }
    }
}

/// Everything the series builder needs about one image plane (one frame of one file).
#[derive(Debug, Clone, Default)]
pub struct SliceHeader {
    pub path: PathBuf,
    /// Frame index inside the file (0 for single-frame images).
    pub frame: u32,
    pub frames_in_file: u32,
    pub series_uid: String,
    pub study_uid: String,
    pub sop_instance_uid: String,
    pub modality: String,
    pub series_description: String,
    pub patient_name: String,
    pub patient_id: String,
    pub study_date: String,
    pub transfer_syntax_uid: String,
    pub transfer_syntax_name: String,
    pub instance_number: Option<i32>,
    pub acquisition_number: Option<i32>,
    pub echo_number: Option<i32>,
    pub temporal_position: Option<i32>,
    /// Enhanced multi-frame: the stack the frame belongs to.
    pub stack_id: Option<String>,
    /// Enhanced multi-frame: what tells this frame's volume apart from the file's others along
    /// its dimensions other than space ("Private ImageTypeMR B0"); `None` where nothing does.
    pub dimension: Option<String>,
    pub rows: u32,
    pub cols: u32,
    /// ImagePositionPatient: centre of the first transmitted pixel, LPS mm.
    pub position_mm: Option<Vector3<f64>>,
    /// ImageOrientationPatient: direction of increasing column index (row direction) ...
    pub row_dir: Option<Vector3<f64>>,
    /// ... and of increasing row index (column direction).
    pub col_dir: Option<Vector3<f64>>,
    /// PixelSpacing: (between rows, between columns) in mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
    pub pixel_spacing_source: &'static str,
    pub slice_thickness_mm: Option<f64>,
    pub spacing_between_slices_mm: Option<f64>,
    pub gantry_tilt_deg: Option<f64>,
    /// Values that identify the patient, the study or the place (names, IDs, dates, UIDs,
    /// descriptions, institution, physicians): what anonymised output must not contain.
    pub identifying: Arc<Vec<String>>,
    /// What had to be mended to read the file (empty for a conformant one).
    pub repairs: Vec<String>,
    pub format: PixelFormat,
    pub rescale: Rescale,
    pub rescale_type: String,
    pub window: Option<(f64, f64)>,
}

/// A parsed DICOM file with what it is.
pub struct ParsedFile {
    pub object: DefaultDicomObject,
    /// What had to be mended for the file to be read (see [`repair_meta`]).
    pub repairs: Vec<String>,
}

/// How much of a file the header scan reads before parsing (headers are rarely over 10 KB).
const HEADER_PREFIX: u64 = 64 * 1024;

/// Reads a DICOM object held in memory, after checking that every declared length fits in it.
/// `header_only` stops before the pixel data.
pub fn read_object(bytes: &[u8], path: &Path, header_only: bool) -> Result<ParsedFile> {
    match guard::check_lengths(bytes, bytes.len() as u64) {
        Ok(()) | Err(guard::Guard::NeedWholeFile) => parse(bytes, path, header_only),
        Err(guard::Guard::Corrupt(detail)) => Err(DicomError::Parse { path: path.to_owned(), detail }),
    }
}

/// Reads a file's header (up to the pixel data), which is what scanning a folder needs.
pub fn read_file_header(path: &Path) -> Result<ParsedFile> {
    let io = |e| DicomError::Io { path: path.to_owned(), error: e };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut head = Vec::with_capacity(len.min(HEADER_PREFIX) as usize);
    (&mut file).take(HEADER_PREFIX).read_to_end(&mut head).map_err(io)?;
    match guard::check_lengths(&head, len) {
        Ok(()) => parse(std::io::Cursor::new(head).chain(file), path, true),
        // Deflated: the guard needs all of it (and so does the parser).
        Err(guard::Guard::NeedWholeFile) => {
            file.read_to_end(&mut head).map_err(io)?;
            read_object(&head, path, true)
        }
        Err(guard::Guard::Corrupt(detail)) => Err(DicomError::Parse { path: path.to_owned(), detail }),
    }
}

/// Parses a DICOM object from a byte source. Files without the Part 10 header (old ACR-NEMA
/// style data sets) are read as little endian when they start like a data set.
fn parse<R: Read>(src: R, path: &Path, header_only: bool) -> Result<ParsedFile> {
    let mut reader = BufReader::with_capacity(16 * 1024, src);
    let head = reader.fill_buf().map_err(|e| DicomError::Io { path: path.to_owned(), error: e })?;
    let head: Vec<u8> = head[..head.len().min(132)].to_vec();
    let parse_err = |e: &dyn std::fmt::Display| {
        let detail = e.to_string();
        let truncated = detail.contains("fill whole buffer") || detail.contains("UnexpectedEof");
        DicomError::Parse {
            path: path.to_owned(),
            detail: if truncated { format!("the file ends early (truncated): {detail}") } else { detail },
        }
    };

    let part10 = (head.len() >= 132 && &head[128..132] == b"DICM") || head.starts_with(b"DICM");
    if part10 {
        let mut opts = OpenFileOptions::new();
        if header_only {
            opts = opts.read_until(tags::PIXEL_DATA);
        }
        // A mended meta group stands in for the file's own, and the rest follows unchanged.
        let (prefix, repairs) = match repair_meta(reader.fill_buf().unwrap_or_default()) {
            Some((mended, end, repairs)) => {
                reader.consume(end);
                (mended, repairs)
            }
            None => (Vec::new(), Vec::new()),
        };
        let source = std::io::Cursor::new(prefix).chain(reader);
        let object = opts.from_reader(source).map_err(|e| parse_err(&error_chain(&e)))?;
        return Ok(ParsedFile { object, repairs });
    }
    if let Some(ts_uid) = raw_dataset_syntax(&head) {
        let ts = TransferSyntaxRegistry.get(ts_uid).ok_or_else(|| parse_err(&"little endian codec missing"))?;
        let dataset = InMemDicomObject::read_dataset_with_ts(reader, ts).map_err(|e| parse_err(&error_chain(&e)))?;
        let sop_class = string_of(&dataset, tags::SOP_CLASS_UID);
        let sop_instance = string_of(&dataset, tags::SOP_INSTANCE_UID);
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(ts_uid)
            .media_storage_sop_class_uid(if sop_class.is_empty() { "1.2.840.10008.5.1.4.1.1.7" } else { &sop_class })
            .media_storage_sop_instance_uid(if sop_instance.is_empty() { "2.25.0" } else { &sop_instance })
            .build()
            .map_err(|e| parse_err(&e))?;
        let repairs = vec!["no Part 10 header: read as a bare little-endian data set".to_owned()];
        return Ok(ParsedFile { object: dataset.with_exact_meta(meta), repairs });
    }
    Err(DicomError::NotDicom { path: path.to_owned() })
}

/// The file meta group mended where dicom-rs would refuse it but other readers (pydicom, GDCM,
/// DCMTK) read it: values longer than the standard allows (an 18-byte AE title, a 22-byte
/// implementation version name: older toolkits wrote them) are cut to the allowed length, a
/// version of another length is set to 00 01, and the group length is recomputed. Returns the
/// bytes to read instead of the file's own up to the end of its meta group, where that ends, and
/// what was changed; `None` when nothing needs mending (or the group cannot be walked here).
fn repair_meta(buf: &[u8]) -> Option<(Vec<u8>, usize, Vec<String>)> {
    let start = if buf.len() >= 132 && &buf[128..132] == b"DICM" {
        132
    } else if buf.starts_with(b"DICM") {
        4
    } else {
        return None;
    };
    let u16_at = |p: usize| u16::from_le_bytes([buf[p], buf[p + 1]]);
    let mut elements: Vec<(u16, [u8; 2], Vec<u8>)> = Vec::new();
    let mut pos = start;
    while pos + 8 <= buf.len() && u16_at(pos) == 0x0002 {
        let elem = u16_at(pos + 2);
        let vr = [buf[pos + 4], buf[pos + 5]];
        let long = matches!(&vr, b"OB" | b"OW" | b"OF" | b"OD" | b"OL" | b"OV" | b"SQ" | b"UT" | b"UN" | b"UC" | b"UR");
        let (len, head) = if long {
            if pos + 12 > buf.len() {
                return None;
            }
            (u32::from_le_bytes([buf[pos + 8], buf[pos + 9], buf[pos + 10], buf[pos + 11]]) as usize, 12)
        } else {
            (u16_at(pos + 6) as usize, 8)
        };
        let end = pos.checked_add(head)?.checked_add(len)?;
        if end > buf.len() {
            return None;
        }
        elements.push((elem, vr, buf[pos + head..end].to_vec()));
        pos = end;
    }
    let mut repairs = Vec::new();
    for (elem, _, value) in &mut elements {
        // Implementation Version Name (SH) and the AE titles: 16 bytes at most.
        if matches!(*elem, 0x0013 | 0x0016 | 0x0017 | 0x0018) && value.len() > 16 {
            repairs.push(format!(
                "the file meta element (0002,{elem:04X}) holds {} bytes where 16 are allowed: read as its first 16",
                value.len()
            ));
            value.truncate(16);
        }
        if *elem == 0x0001 && value.len() != 2 {
            repairs.push(format!("FileMetaInformationVersion (0002,0001) holds {} bytes: read as 00 01", value.len()));
            *value = vec![0, 1];
        }
    }
    if repairs.is_empty() {
        return None;
    }
    let mut body = Vec::new();
    for (elem, vr, value) in elements.iter().filter(|(e, _, _)| *e != 0x0000) {
        body.extend(0x0002u16.to_le_bytes());
        body.extend(elem.to_le_bytes());
        body.extend(vr);
        if matches!(vr, b"OB" | b"OW" | b"OF" | b"OD" | b"OL" | b"OV" | b"SQ" | b"UT" | b"UN" | b"UC" | b"UR") {
            body.extend([0, 0]);
            body.extend((value.len() as u32).to_le_bytes());
        } else {
            body.extend((value.len() as u16).to_le_bytes());
        }
        body.extend(value);
    }
    let mut out = buf[..start].to_vec();
    out.extend([0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    Some((out, pos, repairs))
}

/// A data set without preamble starts with a group 0008 (or 0002) tag in little endian, then
/// either a two-letter VR (explicit VR) or a plausible 32-bit length (implicit VR). Anything else
/// is not treated as DICOM.
pub(super) fn raw_dataset_syntax(head: &[u8]) -> Option<&'static str> {
    if head.len() < 8 {
        return None;
    }
    let group = u16::from_le_bytes([head[0], head[1]]);
    let elem = u16::from_le_bytes([head[2], head[3]]);
    if !(group == 0x0008 || group == 0x0002) || elem >= 0x0100 {
        return None;
    }
    if head[4].is_ascii_uppercase() && head[5].is_ascii_uppercase() {
        return Some(uids::EXPLICIT_VR_LITTLE_ENDIAN);
    }
    (u32::from_le_bytes([head[4], head[5], head[6], head[7]]) < 1024).then_some(uids::IMPLICIT_VR_LITTLE_ENDIAN)
}

/// The message of an error and all its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

type ElementValue = dicom::core::value::Value<InMemDicomObject, dicom::object::mem::InMemFragment>;

/// An attribute's value as the dictionary types it, also where a file wrote it as UN (tools that
/// did not know the attribute, or converted implicit to explicit VR): text VRs are read as text,
/// binary ones as the little-endian numbers they are.
fn value_of(obj: &InMemDicomObject, tag: Tag) -> Option<Cow<'_, ElementValue>> {
    use dicom::core::VR;
    use dicom::core::dictionary::{DataDictionary, VirtualVr};
    use dicom::core::value::PrimitiveValue;
    let e = obj.get(tag)?;
    let value = e.value();
    let (VR::UN, ElementValue::Primitive(PrimitiveValue::U8(bytes))) = (e.vr(), value) else {
        return Some(Cow::Borrowed(value));
    };
    let vr = match dicom::dictionary_std::StandardDataDictionary.by_tag(tag).map(|d| d.vr) {
        Some(VirtualVr::Exact(vr)) => vr,
        Some(VirtualVr::Xs) => VR::US,
        _ => return Some(Cow::Borrowed(value)),
    };
    fn words<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> dicom::core::value::C<T> {
        bytes.chunks_exact(N).map(|c| f(c.try_into().expect("chunks of N"))).collect()
    }
    let typed = match vr {
        VR::US => PrimitiveValue::U16(words(bytes, u16::from_le_bytes)),
        VR::SS => PrimitiveValue::I16(words(bytes, i16::from_le_bytes)),
        VR::UL => PrimitiveValue::U32(words(bytes, u32::from_le_bytes)),
        VR::SL => PrimitiveValue::I32(words(bytes, i32::from_le_bytes)),
        VR::FL => PrimitiveValue::F32(words(bytes, f32::from_le_bytes)),
        VR::FD => PrimitiveValue::F64(words(bytes, f64::from_le_bytes)),
        VR::AE
        | VR::AS
        | VR::CS
        | VR::DA
        | VR::DS
        | VR::DT
        | VR::IS
        | VR::LO
        | VR::LT
        | VR::PN
        | VR::SH
        | VR::ST
        | VR::TM
        | VR::UC
        | VR::UI
        | VR::UR
        | VR::UT => {
            let text = String::from_utf8_lossy(bytes);
            PrimitiveValue::Strs(text.split('\\').map(|s| s.trim_end_matches(['\0', ' ']).to_owned()).collect())
        }
        _ => return Some(Cow::Borrowed(value)),
    };
    Some(Cow::Owned(ElementValue::Primitive(typed)))
}

fn string_of(obj: &InMemDicomObject, tag: Tag) -> String {
    value_of(obj, tag)
        .and_then(|v| v.to_str().ok().map(|s| s.into_owned()))
        .map(|s| s.trim_matches(|c: char| c.is_whitespace() || c == '\0').to_owned())
        .unwrap_or_default()
}

/// Typed access to optional attributes that fails with the attribute's name when the value is
/// present but malformed (a bad VR, "1A" in an integer string...).
struct Attrs<'a> {
    obj: &'a InMemDicomObject,
    path: &'a Path,
}

impl<'a> Attrs<'a> {
    fn bad(&self, tag: Tag, what: &str, raw: &str) -> DicomError {
        DicomError::invalid(self.path, format!("{} {tag} is '{raw}', expected {what}", tag_name(tag)))
    }

    fn raw(&self, tag: Tag) -> Option<String> {
        value_of(self.obj, tag).map(|v| v.to_str().map(|s| s.into_owned()).unwrap_or_default())
    }

    fn string(&self, tag: Tag) -> String {
        string_of(self.obj, tag)
    }

    fn int(&self, tag: Tag) -> Result<Option<i64>> {
        let Some(e) = value_of(self.obj, tag) else { return Ok(None) };
        if e.primitive().is_none_or(|p| p.is_empty()) {
            return Ok(None);
        }
        e.to_int::<i64>().map(Some).map_err(|_| self.bad(tag, "an integer", &self.raw(tag).unwrap_or_default()))
    }

    fn uint(&self, tag: Tag, max: i64) -> Result<Option<u32>> {
        match self.int(tag)? {
            None => Ok(None),
            Some(v) if (0..=max).contains(&v) => Ok(Some(v as u32)),
            Some(v) => Err(self.bad(tag, &format!("an integer in 0..={max}"), &v.to_string())),
        }
    }

    fn floats(&self, tag: Tag, n: usize) -> Result<Option<Vec<f64>>> {
        let Some(e) = value_of(self.obj, tag) else { return Ok(None) };
        if e.primitive().is_none_or(|p| p.is_empty()) {
            return Ok(None);
        }
        match e.to_multi_float64() {
            Ok(v) if v.len() >= n && v.iter().take(n).all(|x| x.is_finite()) => Ok(Some(v[..n].to_vec())),
            _ => Err(self.bad(tag, &format!("{n} finite number(s)"), &self.raw(tag).unwrap_or_default())),
        }
    }

    fn float(&self, tag: Tag) -> Result<Option<f64>> {
        Ok(self.floats(tag, 1)?.map(|v| v[0]))
    }

    /// The first item of a sequence.
    fn item(&self, tag: Tag) -> Option<Attrs<'a>> {
        let obj = self.obj.get(tag)?.items()?.first()?;
        Some(Attrs { obj, path: self.path })
    }
}

fn tag_name(tag: Tag) -> &'static str {
    use dicom::core::dictionary::DataDictionary;
    dicom::dictionary_std::StandardDataDictionary.by_tag(tag).map(|e| e.alias).unwrap_or("attribute")
}

fn vec3(v: &[f64]) -> Vector3<f64> {
    Vector3::new(v[0], v[1], v[2])
}

/// Dimensions that place a frame in space (or in a stack): frames that differ only in these
/// belong to one volume.
const SPATIAL_DIMENSIONS: [Tag; 4] =
    [tags::STACK_ID, tags::IN_STACK_POSITION_NUMBER, tags::IMAGE_POSITION_PATIENT, tags::SLICE_LOCATION];

/// Per frame of an enhanced object, what sets it apart along the dimensions of its
/// DimensionIndexSequence other than space (echo, b-value, phase, a private image type...):
/// "label value, ..." over the dimensions whose values differ between frames; `None` for every
/// frame where none do. A value is read where the dimension points (the frame's functional group,
/// private ones included), else its index is given.
fn frame_dimensions(obj: &InMemDicomObject, per_frame: &[&InMemDicomObject]) -> Vec<Option<String>> {
    let Some(dims) = obj.get(tags::DIMENSION_INDEX_SEQUENCE).and_then(|e| e.items()) else { return Vec::new() };
    let tag_of = |item: &InMemDicomObject, t: Tag| item.get(t).and_then(|e| e.value().to_tag().ok());
    // (position in DimensionIndexValues, pointer, functional group, label) of non-spatial ones.
    let wanted: Vec<(usize, Tag, Option<Tag>, String)> = dims
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let pointer = tag_of(d, tags::DIMENSION_INDEX_POINTER)?;
            let label = string_of(d, tags::DIMENSION_DESCRIPTION_LABEL);
            let label = if label.is_empty() { tag_name(pointer).to_owned() } else { label };
            (!SPATIAL_DIMENSIONS.contains(&pointer))
                .then(|| (i, pointer, tag_of(d, tags::FUNCTIONAL_GROUP_POINTER), label))
        })
        .collect();
    let shared = obj.get(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).and_then(|e| e.items()).and_then(|i| i.first());
    let keys: Vec<Vec<String>> = per_frame
        .iter()
        .map(|item| {
            let indices = item
                .get(tags::FRAME_CONTENT_SEQUENCE)
                .and_then(|e| e.items())
                .and_then(|i| i.first())
                .and_then(|fc| value_of(fc, tags::DIMENSION_INDEX_VALUES))
                .and_then(|v| v.to_multi_int::<i64>().ok())
                .unwrap_or_default();
            wanted
                .iter()
                .map(|(i, pointer, group, _)| {
                    let value = group
                        .and_then(|g| {
                            [Some(*item), shared]
                                .into_iter()
                                .flatten()
                                .find_map(|o| o.get(g).and_then(|e| e.items()).and_then(|i| i.first()))
                        })
                        .map(|g| string_of(g, *pointer))
                        .filter(|v| !v.is_empty());
                    value.unwrap_or_else(|| indices.get(*i).map_or_else(String::new, |x| format!("index {x}")))
                })
                .collect()
        })
        .collect();
    let varies: Vec<bool> =
        (0..wanted.len()).map(|d| keys.iter().any(|k| keys.first().is_some_and(|first| first[d] != k[d]))).collect();
    keys.iter()
        .map(|k| {
            let parts: Vec<String> =
                (0..wanted.len()).filter(|&d| varies[d]).map(|d| format!("{} {}", wanted[d].3, k[d])).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        })
        .collect()
}

/// Human-readable name of a SOP class, for messages.
pub fn sop_class_name(uid: &str) -> String {
    StandardSopClassDictionary.by_uid(uid).map(|e| e.name.to_owned()).unwrap_or_else(|| format!("SOP class {uid}"))
}

/// Attributes whose values identify a patient, a study or a place (PS3.15's basic profile, the
/// ones twinplan could ever echo): collected so that anonymised output can leave them out.
const IDENTIFYING: [Tag; 42] = [
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    Tag(0x0010, 0x1000), // OtherPatientIDs (retired, still written)
    tags::OTHER_PATIENT_NAMES,
    tags::PATIENT_BIRTH_NAME,
    tags::PATIENT_MOTHER_BIRTH_NAME,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_BIRTH_TIME,
    tags::PATIENT_ADDRESS,
    tags::PATIENT_TELEPHONE_NUMBERS,
    Tag(0x0010, 0x1090), // MedicalRecordLocator (retired, still written)
    tags::ACCESSION_NUMBER,
    tags::STUDY_ID,
    tags::STUDY_INSTANCE_UID,
    tags::SERIES_INSTANCE_UID,
    tags::SOP_INSTANCE_UID,
    tags::FRAME_OF_REFERENCE_UID,
    tags::STUDY_DATE,
    tags::SERIES_DATE,
    tags::ACQUISITION_DATE,
    tags::CONTENT_DATE,
    tags::STUDY_TIME,
    tags::SERIES_TIME,
    tags::ACQUISITION_TIME,
    tags::CONTENT_TIME,
    tags::STUDY_DESCRIPTION,
    tags::SERIES_DESCRIPTION,
    tags::PROTOCOL_NAME,
    tags::PERFORMED_PROCEDURE_STEP_DESCRIPTION,
    tags::REQUESTED_PROCEDURE_DESCRIPTION,
    tags::INSTITUTION_NAME,
    tags::INSTITUTION_ADDRESS,
    tags::INSTITUTIONAL_DEPARTMENT_NAME,
    tags::STATION_NAME,
    tags::DEVICE_SERIAL_NUMBER,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::PERFORMING_PHYSICIAN_NAME,
    tags::NAME_OF_PHYSICIANS_READING_STUDY,
    tags::OPERATORS_NAME,
    tags::IMAGE_COMMENTS,
    tags::PATIENT_COMMENTS,
];

/// The identifying values of an object: each attribute's value, and for person names each part
/// of the name as well.
fn identifying(obj: &InMemDicomObject) -> Vec<String> {
    let mut out = Vec::new();
    for tag in IDENTIFYING {
        let value = string_of(obj, tag);
        if value.is_empty() {
            continue;
        }
        let is_name = obj.get(tag).is_some_and(|e| e.vr() == dicom::core::VR::PN);
        if is_name {
            out.extend(value.split(['^', '=', ' ', ',']).map(str::trim).filter(|p| p.len() >= 2).map(str::to_owned));
        }
        out.extend(value.split('\\').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()));
    }
    out.sort();
    out.dedup();
    out
}

/// Geometry and value mapping found in functional-group sequences (enhanced multi-frame objects)
/// or at the top level (classic single-frame objects); later sources override earlier ones.
#[derive(Default, Clone)]
struct PlaneAttrs {
    position: Option<Vector3<f64>>,
    orientation: Option<(Vector3<f64>, Vector3<f64>)>,
    spacing: Option<[f64; 2]>,
    thickness: Option<f64>,
    rescale: Option<Rescale>,
    rescale_type: Option<String>,
    window: Option<(f64, f64)>,
    stack_id: Option<String>,
}

impl PlaneAttrs {
    fn read(a: &Attrs) -> Result<Self> {
        let mut p = PlaneAttrs::default();
        p.merge_top(a)?;
        Ok(p)
    }

    /// Reads the plain attributes (classic images, or the inside of a functional-group macro).
    fn merge_top(&mut self, a: &Attrs) -> Result<()> {
        if let Some(v) = a.floats(tags::IMAGE_POSITION_PATIENT, 3)? {
            self.position = Some(vec3(&v));
        }
        if let Some(v) = a.floats(tags::IMAGE_ORIENTATION_PATIENT, 6)? {
            self.orientation = Some((vec3(&v[0..3]), vec3(&v[3..6])));
        }
        if let Some(v) = a.floats(tags::PIXEL_SPACING, 2)? {
            self.spacing = Some([v[0], v[1]]);
        }
        if let Some(v) = a.float(tags::SLICE_THICKNESS)? {
            self.thickness = Some(v);
        }
        let slope = a.float(tags::RESCALE_SLOPE)?;
        let intercept = a.float(tags::RESCALE_INTERCEPT)?;
        if slope.is_some() || intercept.is_some() {
            self.rescale = Some(Rescale { slope: slope.unwrap_or(1.0), intercept: intercept.unwrap_or(0.0) });
        }
        let rt = a.string(tags::RESCALE_TYPE);
        // "US" is DICOM's "unspecified": no unit to show.
        if !rt.is_empty() && rt != "US" {
            self.rescale_type = Some(rt);
        }
        // Window values are advisory: a malformed one is ignored rather than failing the image.
        if let (Ok(Some(c)), Ok(Some(w))) = (a.float(tags::WINDOW_CENTER), a.float(tags::WINDOW_WIDTH))
            && w > 0.0
        {
            self.window = Some((c, w));
        }
        Ok(())
    }

    /// Reads one functional-groups item (shared or per-frame).
    fn merge_groups(&mut self, g: &Attrs) -> Result<()> {
        for seq in [
            tags::PLANE_POSITION_SEQUENCE,
            tags::PLANE_ORIENTATION_SEQUENCE,
            tags::PIXEL_MEASURES_SEQUENCE,
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            tags::FRAME_VOILUT_SEQUENCE,
        ] {
            if let Some(item) = g.item(seq) {
                self.merge_top(&item)?;
            }
        }
        if let Some(fc) = g.item(tags::FRAME_CONTENT_SEQUENCE) {
            let s = fc.string(tags::STACK_ID);
            if !s.is_empty() {
                self.stack_id = Some(s);
            }
        }
        Ok(())
    }
}

/// The image pixel module: plane size, frames and pixel format, checked against what loads (a
/// scalar image of 1, 8, 16 or 32 bits within the size limits).
fn image_pixels(a: &Attrs) -> Result<(u32, u32, u32, PixelFormat)> {
    let path = a.path;
    let rows =
        a.uint(tags::ROWS, u16::MAX as i64)?.ok_or_else(|| DicomError::invalid(path, "Rows (0028,0010) is missing"))?;
    let cols = a
        .uint(tags::COLUMNS, u16::MAX as i64)?
        .ok_or_else(|| DicomError::invalid(path, "Columns (0028,0011) is missing"))?;
    if rows == 0 || cols == 0 || rows as u64 * cols as u64 > MAX_PLANE_PIXELS {
        return Err(DicomError::invalid(
            path,
            format!("image of {cols} x {rows} pixels, expected 1..={MAX_PLANE_PIXELS} pixels per plane"),
        ));
    }
    let bits_allocated = a.uint(tags::BITS_ALLOCATED, 64)?.unwrap_or(16) as u16;
    let bits_stored = a.uint(tags::BITS_STORED, 64)?.map(|v| v as u16).unwrap_or(bits_allocated);
    let high_bit = a.uint(tags::HIGH_BIT, 63)?.map(|v| v as u16).unwrap_or(bits_stored.saturating_sub(1));
    let samples_per_pixel = a.uint(tags::SAMPLES_PER_PIXEL, 4)?.unwrap_or(1) as u16;
    let photometric = a.string(tags::PHOTOMETRIC_INTERPRETATION);
    let signed = a.uint(tags::PIXEL_REPRESENTATION, 1)?.unwrap_or(0) == 1;
    if samples_per_pixel != 1 || !(photometric.is_empty() || photometric.starts_with("MONOCHROME")) {
        return Err(DicomError::Unsupported {
            path: path.to_owned(),
            what: format!("a colour image ({photometric}, {samples_per_pixel} samples per pixel) as a scalar volume"),
        });
    }
    if ![1, 8, 16, 32].contains(&bits_allocated) {
        return Err(DicomError::Unsupported {
            path: path.to_owned(),
            what: format!("BitsAllocated {bits_allocated} (expected 1, 8, 16 or 32)"),
        });
    }
    if bits_stored == 0 || bits_stored > bits_allocated || high_bit >= bits_allocated || high_bit + 1 < bits_stored {
        return Err(DicomError::invalid(
            path,
            format!("BitsStored {bits_stored} / HighBit {high_bit} do not fit in BitsAllocated {bits_allocated}"),
        ));
    }
    let frames = match a.int(tags::NUMBER_OF_FRAMES)? {
        None => 1,
        Some(n) if (1..=MAX_FRAMES as i64).contains(&n) => n as u32,
        Some(n) => return Err(a.bad(tags::NUMBER_OF_FRAMES, &format!("1..={MAX_FRAMES}"), &n.to_string())),
    };
    let voxels = rows as u64 * cols as u64 * frames as u64;
    if voxels > MAX_VOXELS as u64 {
        return Err(DicomError::invalid(
            path,
            format!(
                "{frames} frame(s) of {cols} x {rows} pixels would be {voxels} voxels; at most {MAX_VOXELS} are supported"
            ),
        ));
    }
    let format = PixelFormat {
        bits_allocated,
        bits_stored,
        high_bit,
        signed,
        samples_per_pixel,
        monochrome1: photometric == "MONOCHROME1",
    };
    Ok((rows, cols, frames, format))
}

/// The image headers of every frame in a parsed file. Errors name the file and the attribute.
pub fn slice_headers(parsed: &ParsedFile, path: &Path) -> Result<Vec<SliceHeader>> {
    let obj: &InMemDicomObject = &parsed.object;
    let meta = parsed.object.meta();
    let a = Attrs { obj, path };

    let sop_class = {
        let s = a.string(tags::SOP_CLASS_UID);
        if s.is_empty() { meta.media_storage_sop_class_uid().trim_end_matches('\0').to_owned() } else { s }
    };
    // Headers are read up to (not including) PixelData, so an image is recognised by its image
    // pixel module; a file that claims one and lacks pixels fails later, when it is decoded.
    let has_pixels =
        obj.get(tags::PIXEL_DATA).is_some() || (obj.get(tags::ROWS).is_some() && obj.get(tags::COLUMNS).is_some());
    if !has_pixels {
        if obj.get(tags::FLOAT_PIXEL_DATA).is_some() || obj.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some() {
            return Err(DicomError::Unsupported { path: path.to_owned(), what: "float pixel data".into() });
        }
        let kind = if obj.get(tags::DIRECTORY_RECORD_SEQUENCE).is_some() {
            "a DICOMDIR index".to_owned()
        } else {
            sop_class_name(&sop_class)
        };
        return Err(DicomError::NoPixelData { path: path.to_owned(), kind });
    }

    let ts_uid = meta.transfer_syntax().trim_end_matches('\0').to_owned();
    let ts = TransferSyntaxRegistry
        .get(&ts_uid)
        .ok_or_else(|| DicomError::Unsupported { path: path.to_owned(), what: format!("transfer syntax {ts_uid}") })?;
    if ts.is_encapsulated_pixel_data() && !ts.can_decode_all() {
        return Err(DicomError::Unsupported {
            path: path.to_owned(),
            what: format!("transfer syntax {} ({ts_uid}): no decoder built in", ts.name()),
        });
    }

    let (rows, cols, frames, format) = image_pixels(&a)?;

    // Classic attributes, then shared functional groups, then per-frame groups override.
    let mut base = PlaneAttrs::read(&a)?;
    if let Some(shared) = a.item(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE) {
        base.merge_groups(&shared)?;
    }
    let mut per_frame: Vec<&InMemDicomObject> = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .map(|i| i.iter().collect())
        .unwrap_or_default();
    let mut repairs = parsed.repairs.clone();
    if per_frame.len() > frames as usize {
        // Frames cut from a file without cutting its per-frame groups: the first ones are theirs.
        repairs.push(format!(
            "PerFrameFunctionalGroupsSequence has {} items for {frames} frame(s): the first {frames} are used",
            per_frame.len()
        ));
        per_frame.truncate(frames as usize);
    }
    if !per_frame.is_empty() && per_frame.len() != frames as usize {
        return Err(DicomError::invalid(
            path,
            format!(
                "PerFrameFunctionalGroupsSequence has {} items, expected NumberOfFrames = {frames}",
                per_frame.len()
            ),
        ));
    }
    let dimensions = frame_dimensions(obj, &per_frame);
    // RT Dose and other multi-frame images without per-frame positions: frame offsets along the
    // normal from ImagePositionPatient.
    let offsets = a.floats(tags::GRID_FRAME_OFFSET_VECTOR, frames as usize)?.filter(|_| per_frame.is_empty());

    let fallback_spacing = a.floats(tags::IMAGER_PIXEL_SPACING, 2)?.map(|v| [v[0], v[1]]);

    let common = SliceHeader {
        path: path.to_owned(),
        frame: 0,
        frames_in_file: frames,
        series_uid: a.string(tags::SERIES_INSTANCE_UID),
        study_uid: a.string(tags::STUDY_INSTANCE_UID),
        sop_instance_uid: a.string(tags::SOP_INSTANCE_UID),
        modality: a.string(tags::MODALITY),
        series_description: a.string(tags::SERIES_DESCRIPTION),
        patient_name: a.string(tags::PATIENT_NAME).replace('^', " ").trim().to_owned(),
        patient_id: a.string(tags::PATIENT_ID),
        study_date: a.string(tags::STUDY_DATE),
        transfer_syntax_uid: ts_uid.clone(),
        transfer_syntax_name: ts.name().to_owned(),
        instance_number: a.int(tags::INSTANCE_NUMBER).ok().flatten().map(|v| v as i32),
        acquisition_number: a.int(tags::ACQUISITION_NUMBER).ok().flatten().map(|v| v as i32),
        echo_number: a.int(tags::ECHO_NUMBERS).ok().flatten().map(|v| v as i32),
        temporal_position: a.int(tags::TEMPORAL_POSITION_IDENTIFIER).ok().flatten().map(|v| v as i32),
        stack_id: None,
        dimension: None,
        rows,
        cols,
        position_mm: None,
        row_dir: None,
        col_dir: None,
        pixel_spacing_mm: None,
        pixel_spacing_source: "none",
        slice_thickness_mm: None,
        spacing_between_slices_mm: a.float(tags::SPACING_BETWEEN_SLICES).ok().flatten(),
        gantry_tilt_deg: a.float(tags::GANTRY_DETECTOR_TILT).ok().flatten(),
        identifying: Arc::new(identifying(obj)),
        repairs,
        format,
        rescale: Rescale::default(),
        rescale_type: String::new(),
        window: None,
    };

    let mut out = Vec::with_capacity(frames as usize);
    for f in 0..frames {
        let mut p = base.clone();
        if let Some(item) = per_frame.get(f as usize) {
            p.merge_groups(&Attrs { obj: item, path })?;
        }
        let mut h = common.clone();
        h.frame = f;
        h.position_mm = p.position;
        h.row_dir = p.orientation.map(|o| o.0);
        h.col_dir = p.orientation.map(|o| o.1);
        if let (Some(offsets), Some(origin), Some((r, c))) = (&offsets, p.position, p.orientation) {
            // Relative to the position when the first offset is 0; else positions along the
            // normal themselves (PS3.3 C.8.8.3.2), so relative to the first.
            let n = r.cross(&c).normalize();
            h.position_mm = Some(origin + n * (offsets[f as usize] - offsets[0]));
        }
        (h.pixel_spacing_mm, h.pixel_spacing_source) = match (p.spacing, fallback_spacing) {
            (Some(s), _) => (Some(s), "PixelSpacing"),
            (None, Some(s)) => (Some(s), "ImagerPixelSpacing"),
            (None, None) => (None, "none"),
        };
        h.dimension = dimensions.get(f as usize).cloned().flatten();
        h.slice_thickness_mm = p.thickness;
        h.rescale = p.rescale.unwrap_or_default();
        h.rescale_type = p.rescale_type.unwrap_or_default();
        h.window = p.window;
        h.stack_id = p.stack_id;
        if !(h.rescale.slope.is_finite() && h.rescale.intercept.is_finite()) || h.rescale.slope == 0.0 {
            return Err(DicomError::invalid(
                path,
                format!("RescaleSlope {} / RescaleIntercept {} are not usable", h.rescale.slope, h.rescale.intercept),
            ));
        }
        out.push(h);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_are_not_dicom() {
        let e = read_object(&b"hello, this is a text file and not an image at all"[..], Path::new("notes.txt"), true);
        assert!(matches!(e, Err(DicomError::NotDicom { .. })), "{:?}", e.err());
    }

    #[test]
    fn stored_range_follows_bits_and_sign() {
        let f = PixelFormat {
            bits_allocated: 16,
            bits_stored: 12,
            high_bit: 11,
            signed: true,
            samples_per_pixel: 1,
            monochrome1: false,
        };
        assert_eq!(f.stored_range(), (-2048.0, 2047.0));
        let u = PixelFormat { signed: false, ..f };
        assert_eq!(u.stored_range(), (0.0, 4095.0));
        assert_eq!(u.bytes_for(512, 512, 2), 512 * 512 * 4);
        let bits = PixelFormat { bits_allocated: 1, bits_stored: 1, high_bit: 0, ..f };
        assert_eq!(bits.bytes_for(3, 5, 3), 6, "45 bits, not 2 bytes a frame");
    }
}
