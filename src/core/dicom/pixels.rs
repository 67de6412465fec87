//! Pixel data to voxel values: decode each file once, mask the stored bits, extend the sign,
//! invert MONOCHROME1, apply the per-slice rescale, and write straight into the volume buffer.

use std::cell::Cell;
use std::path::Path;
use std::sync::Once;

use dicom::core::header::HasLength;
use dicom::core::value::{PrimitiveValue, Value};
use dicom::dictionary_std::tags;
use dicom::object::DefaultDicomObject;
use dicom::pixeldata::PixelDecoder;

use super::error::{DicomError, Result};
use super::header::{PixelFormat, Rescale, SliceHeader, read_object};
use super::{jpeg12, rle};

/// JPEG baseline (process 1) and extended (processes 2 & 4).
fn is_dct_jpeg(ts_uid: &str) -> bool {
    matches!(ts_uid, "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51")
}

/// The codecs that size their work by the stream's own header, and what they are called.
fn self_sized_codec(ts_uid: &str) -> Option<&'static str> {
    match ts_uid {
        "1.2.840.10008.1.2.4.90"
        | "1.2.840.10008.1.2.4.91"
        | "1.2.840.10008.1.2.4.201"
        | "1.2.840.10008.1.2.4.202"
        | "1.2.840.10008.1.2.4.203" => Some("JPEG 2000"),
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => Some("JPEG-LS"),
        _ => None,
    }
}

/// The image size a compressed stream declares: width, height (`None` where the stream leaves
/// it to a later marker, as JPEG-LS may) and components, if the fragment holds the start of
/// one.
type DeclaredSize = (u64, Option<u64>, u16);

/// A JPEG 2000 codestream's SIZ marker (raw, or inside a JP2 wrapper).
fn j2k_size(fragment: &[u8]) -> Option<DeclaredSize> {
    let head = &fragment[..fragment.len().min(4096)];
    let at = head.windows(4).position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])? + 4;
    let siz = fragment.get(at..at + 38)?;
    let u32_at = |i: usize| u64::from(u32::from_be_bytes([siz[i], siz[i + 1], siz[i + 2], siz[i + 3]]));
    let (x, y, x0, y0) = (u32_at(4), u32_at(8), u32_at(12), u32_at(16));
    Some((x.checked_sub(x0)?, Some(y.checked_sub(y0)?), u16::from_be_bytes([siz[36], siz[37]])))
}

/// A JPEG-LS stream's frame header (SOF55), found by walking the marker segments after SOI.
fn jpegls_size(fragment: &[u8]) -> Option<DeclaredSize> {
    let head = &fragment[..fragment.len().min(4096)];
    let mut at = head.windows(2).position(|w| w == [0xFF, 0xD8])? + 2;
    loop {
        while head.get(at..at + 2)? == [0xFF, 0xFF] {
            at += 1; // fill bytes
        }
        let [0xFF, marker, hi, lo] = *head.get(at..at + 4)? else { return None };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if marker == 0xF7 {
            let [_, yh, yl, xh, xl, components] = *head.get(at + 4..at + 10)? else { return None };
            let height = u64::from(u16::from_be_bytes([yh, yl]));
            return Some((u64::from(u16::from_be_bytes([xh, xl])), (height > 0).then_some(height), components.into()));
        }
        if marker == 0xDA || length < 2 {
            return None; // a scan before any frame header, or a broken segment
        }
        at += 2 + length;
    }
}

/// JPEG 2000 and JPEG-LS codecs size their work by the stream's own header: one that claims
/// another image than the DICOM header has cost gigabytes (OpenJPEG) or seconds per kilobyte
/// (CharLS) before failing. Every stream must declare the image the header describes.
fn check_stream_sizes(fragments: &[Vec<u8>], h: &SliceHeader, codec: &str, path: &Path) -> Result<()> {
    let size = if codec == "JPEG-LS" { jpegls_size } else { j2k_size };
    let mut found = false;
    for f in fragments {
        let Some((w, ht, c)) = size(f) else { continue };
        found = true;
        let (cols, rows) = (u64::from(h.cols), u64::from(h.rows));
        if w != cols || ht.is_some_and(|ht| ht != rows) || c != h.format.samples_per_pixel {
            let ht = ht.map_or("?".into(), |ht| ht.to_string());
            return Err(DicomError::Decode {
                path: path.to_owned(),
                detail: format!(
                    "the {codec} stream declares a {w} x {ht} image with {c} component(s), the header {cols} x {rows} with {}",
                    h.format.samples_per_pixel
                ),
            });
        }
    }
    if found {
        Ok(())
    } else {
        Err(DicomError::Decode { path: path.to_owned(), detail: format!("no {codec} stream in the pixel data") })
    }
}

/// The compressed bytes of each frame. A single frame is all fragments, and one fragment a frame
/// is the usual encoding. Otherwise the Basic Offset Table says where frames begin; without one,
/// a fragment that begins a codestream (JPEG's SOI, JPEG 2000's SOC or JP2 signature) begins a
/// frame, as pydicom and GDCM split them. `None` when the fragments cannot be told apart.
fn frame_streams(fragments: &[Vec<u8>], offsets: &[u32], frames: usize) -> Option<Vec<Vec<u8>>> {
    if frames == 1 {
        return Some(vec![fragments.concat()]);
    }
    if fragments.len() == frames {
        return Some(fragments.to_vec());
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(frames);
    if offsets.len() == frames && offsets[0] == 0 && offsets.windows(2).all(|w| w[0] < w[1]) {
        // Offsets count from the first fragment's item header; each item adds 8 bytes.
        let mut at = 0u64;
        for f in fragments {
            let frame = offsets.iter().rposition(|&o| u64::from(o) <= at)?;
            out.resize_with(out.len().max(frame + 1), Vec::new);
            out[frame].extend_from_slice(f);
            at += 8 + f.len() as u64;
        }
    } else {
        let begins = |f: &[u8]| {
            f.starts_with(&[0xFF, 0xD8])
                || f.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
                || f.starts_with(&[0, 0, 0, 0x0C, 0x6A, 0x50])
        };
        for f in fragments {
            match out.last_mut() {
                Some(last) if !begins(f) => last.extend_from_slice(f),
                _ => out.push(f.clone()),
            }
        }
    }
    (out.len() == frames).then_some(out)
}

fn unsplittable(path: &Path, fragments: usize, frames: u32) -> DicomError {
    DicomError::Decode {
        path: path.to_owned(),
        detail: format!(
            "{fragments} fragment(s) for {frames} frame(s), and neither an offset table nor the codestreams' own markers say which belong to which frame"
        ),
    }
}

/// The voxel type chosen for a series before decoding, so the buffer is allocated once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    I16,
    F32,
}

fn integral(x: f64) -> bool {
    (x - x.round()).abs() < 1e-9
}

/// i16 when every slice rescales to whole numbers, else f32. Whether the values also fit in i16
/// is only known after decoding (a signed 16-bit CT declares a range far wider than it uses), so
/// the i16 decode reports overflow and the caller decodes again as f32 in that rare case.
pub fn choose_kind(slices: &[SliceHeader]) -> SampleKind {
    let whole = slices.iter().all(|s| integral(s.rescale.slope) && integral(s.rescale.intercept));
    if whole { SampleKind::I16 } else { SampleKind::F32 }
}

/// An output sample type.
pub trait Sample: Copy + Send + Sync + Default + 'static {
    /// The representable range; values outside are clamped and reported.
    const RANGE: (f64, f64);
    fn from_f64(v: f64) -> Self;
    /// A whole number, clamped to the range.
    fn from_i64(v: i64) -> Self;
    fn to_f64(self) -> f64;
    /// The buffer as 16-bit words, where samples are 16 bits wide: raw pixels can then be read
    /// straight into place and converted there.
    fn as_words(out: &mut [Self]) -> Option<&mut [u16]>;
}

impl Sample for i16 {
    const RANGE: (f64, f64) = (i16::MIN as f64, i16::MAX as f64);
    #[inline]
    fn from_f64(v: f64) -> Self {
        v.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v.clamp(i16::MIN as i64, i16::MAX as i64) as i16
    }
    fn as_words(out: &mut [Self]) -> Option<&mut [u16]> {
        Some(bytemuck::cast_slice_mut(out))
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Sample for f32 {
    const RANGE: (f64, f64) = (f32::MIN as f64, f32::MAX as f64);
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v as f32
    }
    fn as_words(_: &mut [Self]) -> Option<&mut [u16]> {
        None
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// Raw words of one frame, as stored (before masking).
enum Words<'a> {
    U8(&'a [u8]),
    U16(&'a [u16]),
    I16(&'a [i16]),
    U32(&'a [u32]),
    I32(&'a [i32]),
    /// Little-endian bytes of `bits_allocated` words (decoder output, OB values).
    LeBytes(&'a [u8], u16),
    /// One bit a sample, least significant first, from the given bit on (frames of 1-bit
    /// images follow each other without padding).
    Bits(&'a [u8], usize),
}

impl Words<'_> {
    fn len(&self) -> usize {
        match self {
            Words::U8(v) => v.len(),
            Words::U16(v) => v.len(),
            Words::I16(v) => v.len(),
            Words::U32(v) => v.len(),
            Words::I32(v) => v.len(),
            Words::LeBytes(v, bits) => v.len() / (*bits as usize / 8).max(1),
            Words::Bits(v, from) => (v.len() * 8).saturating_sub(*from),
        }
    }

    #[inline]
    fn word(&self, i: usize) -> u32 {
        match self {
            Words::U8(v) => v[i] as u32,
            Words::U16(v) => v[i] as u32,
            Words::I16(v) => v[i] as u16 as u32,
            Words::U32(v) => v[i],
            Words::I32(v) => v[i] as u32,
            Words::LeBytes(v, 8) => v[i] as u32,
            Words::LeBytes(v, 16) => u16::from_le_bytes([v[2 * i], v[2 * i + 1]]) as u32,
            Words::LeBytes(v, _) => u32::from_le_bytes([v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]]),
            Words::Bits(v, from) => u32::from(v[(from + i) / 8] >> ((from + i) % 8) & 1),
        }
    }

    fn slice(&self, start: usize, len: usize) -> Words<'_> {
        match self {
            Words::U8(v) => Words::U8(&v[start..start + len]),
            Words::U16(v) => Words::U16(&v[start..start + len]),
            Words::I16(v) => Words::I16(&v[start..start + len]),
            Words::U32(v) => Words::U32(&v[start..start + len]),
            Words::I32(v) => Words::I32(&v[start..start + len]),
            Words::LeBytes(v, bits) => {
                let b = *bits as usize / 8;
                Words::LeBytes(&v[start * b..(start + len) * b], *bits)
            }
            Words::Bits(v, from) => Words::Bits(v, from + start),
        }
    }
}

/// Stored value of a raw word: the `bits_stored` bits ending at `high_bit`, sign-extended when
/// signed, inverted for MONOCHROME1.
#[inline]
fn stored_value(word: u32, f: &PixelFormat) -> i64 {
    let shift = (f.high_bit + 1 - f.bits_stored) as u32;
    let bits = f.bits_stored as u32;
    let mask: u64 = if bits >= 32 { u32::MAX as u64 } else { (1u64 << bits) - 1 };
    let v = ((word as u64) >> shift) & mask;
    let mut s = if f.signed && (v >> (bits - 1)) & 1 == 1 { v as i64 - (1i64 << bits) } else { v as i64 };
    if f.monochrome1 {
        s = if f.signed { -1 - s } else { mask as i64 - s };
    }
    s
}

/// Converts one frame; returns true when some value did not fit `T` (and was clamped).
fn convert_frame<T: Sample>(words: &Words, f: &PixelFormat, r: Rescale, out: &mut [T]) -> bool {
    let n = out.len();
    let (lo, hi) = T::RANGE;
    let mut outside = false;
    // The common case (slope 1, whole intercept, 16-bit words, no inversion) is a tight integer
    // loop without branches, which the compiler vectorises.
    let small = r.intercept.abs() < f64::from(1 << 20);
    if let (Words::U16(w), true, true) = (words, r.slope == 1.0 && integral(r.intercept) && small, !f.monochrome1) {
        let shift = u32::from(f.high_bit + 1 - f.bits_stored);
        let bits = u32::from(f.bits_stored.min(16));
        let mask = if bits >= 16 { u32::from(u16::MAX) } else { (1u32 << bits) - 1 };
        // Sign extension by shifting the stored bits to the top and back, in 32 bits.
        let extend = if f.signed { 32 - bits } else { 0 };
        let intercept = r.intercept as i32;
        let (lo, hi) = (lo.max(f64::from(i32::MIN)) as i32, hi.min(f64::from(i32::MAX)) as i32);
        let mut out_of_range = 0u32;
        for (o, &x) in out.iter_mut().zip(&w[..n]) {
            let v = ((((u32::from(x) >> shift) & mask) << extend) as i32 >> extend) + intercept;
            out_of_range |= u32::from(v < lo) | u32::from(v > hi);
            *o = T::from_i64(i64::from(v));
        }
        return out_of_range != 0;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let v = r.slope * stored_value(words.word(i), f) as f64 + r.intercept;
        outside |= v < lo || v > hi;
        *o = T::from_f64(v);
    }
    outside
}

/// Decodes the given frames of one file into their destination planes; `Ok(true)` when some value
/// did not fit `T`.
pub fn decode_file<T: Sample>(path: &Path, frames: &mut [(&SliceHeader, &mut [T])]) -> Result<bool> {
    // One read buffer per thread, reused from file to file: a fresh half-megabyte allocation per
    // file costs more in page faults than the decoding itself.
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if let [(h, out)] = frames
        && let Some(outside) = read_in_place(path, h, out)?
    {
        return Ok(outside);
    }
    BUFFER.with_borrow_mut(|bytes| {
        bytes.clear();
        std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read_to_end(&mut f, bytes))
            .map_err(|e| DicomError::Io { path: path.to_owned(), error: e })?;
        decode_bytes_into(bytes, path, frames)
    })
}

/// The common case read with one copy less: a single-frame file of 16-bit little-endian samples
/// at its end (see [`native_tail`]), rescaled by whole numbers, into 16-bit output. The samples
/// are read from the file straight into the output plane and converted there. `None` when the
/// file is not such a case (the general path then reads it).
fn read_in_place<T: Sample>(path: &Path, h: &SliceHeader, out: &mut [T]) -> Result<Option<bool>> {
    use std::io::{Read, Seek, SeekFrom};
    let explicit = match h.transfer_syntax_uid.as_str() {
        "1.2.840.10008.1.2.1" => true,
        "1.2.840.10008.1.2" => false,
        _ => return Ok(None),
    };
    let simple = cfg!(target_endian = "little")
        && h.frames_in_file == 1
        && h.format.bits_allocated == 16
        && !h.format.monochrome1
        && h.rescale.slope == 1.0
        && integral(h.rescale.intercept)
        && h.rescale.intercept.abs() < f64::from(1 << 20);
    let Some(words) = T::as_words(out).filter(|_| simple) else { return Ok(None) };
    let io = |e| DicomError::Io { path: path.to_owned(), error: e };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len() as usize;
    let data = 2 * words.len();
    let padded = data + (data & 1);
    let mut head = [0u8; 12];
    let head = &mut head[..if explicit { 12 } else { 8 }];
    let Some(start) = len.checked_sub(padded + head.len()) else { return Ok(None) };
    file.seek(SeekFrom::Start(start as u64)).and_then(|_| file.read_exact(head)).map_err(io)?;
    if !pixel_header_matches(head, explicit, padded) {
        return Ok(None);
    }
    file.read_exact(bytemuck::cast_slice_mut(words)).map_err(io)?;
    // Stored words to values, each in its own place (the output is i16 stored as u16), in 32-bit
    // arithmetic with the same shifts for every word, so that the loop vectorises.
    let f = &h.format;
    let shift = u32::from(f.high_bit + 1 - f.bits_stored);
    let bits = u32::from(f.bits_stored.min(16));
    let mask = if bits >= 16 { u32::from(u16::MAX) } else { (1u32 << bits) - 1 };
    let extend = if f.signed { 32 - bits } else { 0 };
    let intercept = h.rescale.intercept as i32;
    let (lo, hi) = (i32::from(i16::MIN), i32::from(i16::MAX));
    let mut out_of_range = 0u32;
    for w in words.iter_mut() {
        let v = ((((u32::from(*w) >> shift) & mask) << extend) as i32 >> extend) + intercept;
        out_of_range |= u32::from(v < lo) | u32::from(v > hi);
        *w = v.clamp(lo, hi) as i16 as u16;
    }
    Ok(Some(out_of_range != 0))
}

fn decode_bytes_into<T: Sample>(bytes: &[u8], path: &Path, frames: &mut [(&SliceHeader, &mut [T])]) -> Result<bool> {
    if let Some(h0) = frames.first().map(|f| f.0)
        && let Some(pixels) = native_tail(bytes, h0)
    {
        let plane = h0.rows as usize * h0.cols as usize;
        let words = le_words(pixels, h0.format.bits_allocated);
        let mut outside = false;
        for (h, out) in frames.iter_mut() {
            outside |= convert_frame(&words.slice(h.frame as usize * plane, plane), &h.format, h.rescale, out);
        }
        return Ok(outside);
    }
    let parsed = read_object(bytes, path, false)?;
    decode_object(&parsed.object, path, frames)
}

/// Uncompressed little-endian pixel data found without parsing the file again: when PixelData
/// is the last element (the usual layout), its element header sits right before the last
/// `length` bytes, and both its tag and its length must match exactly. Anything else (padding
/// after the pixels, big endian, deflate) returns `None` and takes the full parser.
fn native_tail<'a>(bytes: &'a [u8], h: &SliceHeader) -> Option<&'a [u8]> {
    let explicit = match h.transfer_syntax_uid.as_str() {
        "1.2.840.10008.1.2.1" => true,
        "1.2.840.10008.1.2" => false,
        _ => return None,
    };
    let len = usize::try_from(h.format.bytes_for(h.rows, h.cols, h.frames_in_file)).ok()?;
    let padded = len + (len & 1);
    let start = bytes.len().checked_sub(padded)?;
    let header_len = if explicit { 12 } else { 8 };
    let head = bytes.get(start.checked_sub(header_len)?..start)?;
    pixel_header_matches(head, explicit, padded).then(|| &bytes[start..start + len])
}

/// Whether `head` is a PixelData element header (OW or OB when explicit) declaring `padded` bytes.
fn pixel_header_matches(head: &[u8], explicit: bool, padded: usize) -> bool {
    if head.len() < 8 || head[0..4] != [0xE0, 0x7F, 0x10, 0x00] {
        return false;
    }
    let value_len = if explicit {
        if head.len() < 12 || (&head[4..6] != b"OW" && &head[4..6] != b"OB") {
            return false;
        }
        u32::from_le_bytes([head[8], head[9], head[10], head[11]])
    } else {
        u32::from_le_bytes([head[4], head[5], head[6], head[7]])
    };
    value_len as usize == padded
}

/// Little-endian samples as words, reinterpreted in place when the host is little endian and the
/// bytes are aligned (the common case), else read byte by byte.
fn le_words(bytes: &[u8], bits: u16) -> Words<'_> {
    if cfg!(target_endian = "little")
        && bits == 16
        && let Ok(w) = bytemuck::try_cast_slice::<u8, u16>(bytes)
    {
        return Words::U16(w);
    }
    match bits {
        1 => Words::Bits(bytes, 0),
        8 => Words::U8(bytes),
        _ => Words::LeBytes(bytes, bits),
    }
}

/// Runs a third-party codec so that a panic in it is this file's error and nothing more. The
/// codecs trust a stream's own header more than they check it, and one that disagrees with the
/// image can make them panic. The panic is caught, and kept off the terminal (the error that
/// names the file says it instead); panics anywhere else still reach the hook in place. A codec
/// may hand work to rayon's other threads, so a panic is known as the codec's either by the
/// thread being inside this call or by where it happened.
fn contain_codec_panic<R>(codec: impl FnOnce() -> R) -> Option<R> {
    const CODEC_CRATES: [&str; 7] = [
        "dicom-transfer-syntax-registry-",
        "dicom-pixeldata-",
        "jpeg-decoder-",
        "jpeg2k-",
        "openjp2-",
        "charls-",
        "zune-",
    ];
    thread_local!(static IN_CODEC: Cell<bool> = const { Cell::new(false) });
    static QUIET_IN_CODEC: Once = Once::new();
    QUIET_IN_CODEC.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at_codec = info.location().is_some_and(|l| CODEC_CRATES.iter().any(|c| l.file().contains(c)));
            if !(at_codec || IN_CODEC.with(Cell::get)) {
                previous(info);
            }
        }));
    });
    let was = IN_CODEC.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(codec));
    IN_CODEC.with(|c| c.set(was));
    result.ok()
}

/// Bytes of native (uncompressed) pixel data present in the object, `None` when encapsulated or
/// absent: lets a caller refuse a truncated image before allocating for it.
pub fn native_pixel_bytes(obj: &DefaultDicomObject) -> Option<u64> {
    let e = obj.get(tags::PIXEL_DATA)?;
    match e.value() {
        Value::Primitive(_) => e.length().get().map(u64::from),
        _ => None,
    }
}

/// Decodes the given frames of a parsed object into their destination planes.
pub fn decode_object<T: Sample>(
    obj: &DefaultDicomObject,
    path: &Path,
    frames: &mut [(&SliceHeader, &mut [T])],
) -> Result<bool> {
    let Some(first) = frames.first() else { return Ok(false) };
    let h0 = first.0;
    let plane = h0.rows as usize * h0.cols as usize;
    let mut outside = false;
    let pixel = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| DicomError::NoPixelData { path: path.to_owned(), kind: "no PixelData element".into() })?;

    match pixel.value() {
        Value::Primitive(p) => {
            let bits = h0.format.bits_allocated;
            // Words of another width than BitsAllocated (OW holding 8- or 32-bit samples) are
            // read as the little-endian bytes they are, so that their count is checked in samples.
            let bytes: Vec<u8>;
            let words = match p {
                PrimitiveValue::U16(v) if bits == 16 => Words::U16(v),
                PrimitiveValue::I16(v) if bits == 16 => Words::I16(v),
                PrimitiveValue::U32(v) if bits == 32 => Words::U32(v),
                PrimitiveValue::I32(v) if bits == 32 => Words::I32(v),
                PrimitiveValue::U16(v) => {
                    bytes = v.iter().flat_map(|w| w.to_le_bytes()).collect();
                    le_words(&bytes, bits)
                }
                PrimitiveValue::U8(v) if bits == 8 => Words::U8(v),
                PrimitiveValue::U8(v) => le_words(v, bits),
                _ => {
                    return Err(DicomError::Decode {
                        path: path.to_owned(),
                        detail: "PixelData does not hold 8, 16 or 32-bit samples".into(),
                    });
                }
            };
            let needed = plane * h0.frames_in_file as usize;
            if words.len() < needed {
                return Err(DicomError::Decode {
                    path: path.to_owned(),
                    detail: format!(
                        "pixel data is truncated: {} samples present, {} expected for {} x {} x {} frame(s)",
                        words.len(),
                        needed,
                        h0.cols,
                        h0.rows,
                        h0.frames_in_file
                    ),
                });
            }
            for (h, out) in frames.iter_mut() {
                let w = words.slice(h.frame as usize * plane, plane);
                outside |= convert_frame(&w, &h.format, h.rescale, out);
            }
        }
        Value::PixelSequence(seq) if is_dct_jpeg(&h0.transfer_syntax_uid) && h0.format.bits_allocated > 8 => {
            // 12-bit extended JPEG: our own decoder (the bundled one handles 8-bit only).
            let streams = frame_streams(seq.fragments(), seq.offset_table(), h0.frames_in_file as usize)
                .ok_or_else(|| unsplittable(path, seq.fragments().len(), h0.frames_in_file))?;
            for (h, out) in frames.iter_mut() {
                let stream = streams.get(h.frame as usize).ok_or_else(|| unsplittable(path, streams.len(), h.frame))?;
                let img = jpeg12::decode(stream, h.cols as usize, h.rows as usize).map_err(|e| DicomError::Decode {
                    path: path.to_owned(),
                    detail: format!("{} frame {}: {e}", h.transfer_syntax_name, h.frame),
                })?;
                let fmt = PixelFormat {
                    high_bit: h.format.bits_stored.min(img.precision as u16) - 1,
                    bits_stored: h.format.bits_stored.min(img.precision as u16),
                    ..h.format
                };
                outside |= convert_frame(&Words::U16(&img.samples), &fmt, h.rescale, out);
            }
        }
        Value::PixelSequence(seq) if h0.transfer_syntax_uid == "1.2.840.10008.1.2.5" => {
            let streams = frame_streams(seq.fragments(), seq.offset_table(), h0.frames_in_file as usize)
                .ok_or_else(|| unsplittable(path, seq.fragments().len(), h0.frames_in_file))?;
            for (h, out) in frames.iter_mut() {
                let stream = streams.get(h.frame as usize).ok_or_else(|| unsplittable(path, streams.len(), h.frame))?;
                let bytes = rle::decode(stream, plane, h.format.bits_allocated).map_err(|e| DicomError::Decode {
                    path: path.to_owned(),
                    detail: format!("RLE Lossless frame {}: {e}", h.frame),
                })?;
                outside |= convert_frame(&le_words(&bytes, h.format.bits_allocated), &h.format, h.rescale, out);
            }
        }
        Value::PixelSequence(seq) => {
            // Frames over several fragments each: regrouped one fragment a frame, the layout the
            // codecs expect.
            let frames_in_file = h0.frames_in_file as usize;
            let regrouped = (frames_in_file > 1 && seq.fragments().len() != frames_in_file)
                .then(|| {
                    let streams = frame_streams(seq.fragments(), seq.offset_table(), frames_in_file)
                        .ok_or_else(|| unsplittable(path, seq.fragments().len(), h0.frames_in_file))?;
                    let mut copy = obj.clone();
                    let value = Value::PixelSequence(dicom::core::value::PixelFragmentSequence::new(
                        dicom::core::value::C::<u32>::new(),
                        streams,
                    ));
                    copy.put(dicom::core::DataElement::new(tags::PIXEL_DATA, dicom::core::VR::OB, value));
                    Ok::<_, DicomError>(copy)
                })
                .transpose()?;
            let obj = regrouped.as_ref().unwrap_or(obj);
            let fragments = obj.get(tags::PIXEL_DATA).and_then(|e| e.value().fragments()).unwrap_or_default();
            if let Some(codec) = self_sized_codec(&h0.transfer_syntax_uid) {
                check_stream_sizes(fragments, h0, codec, path)?;
            }
            for (h, out) in frames.iter_mut() {
                let decode_err = |detail: String| DicomError::Decode {
                    path: path.to_owned(),
                    detail: format!("{} frame {}: {detail}", h.transfer_syntax_name, h.frame),
                };
                let decoded = contain_codec_panic(|| obj.decode_pixel_data_frame(h.frame))
                    .ok_or_else(|| decode_err("the codec failed on a malformed compressed stream".into()))?
                    .map_err(|e| decode_err(e.to_string()))?;
                let bytes = decoded.data();
                let bits = decoded.bits_allocated();
                let words = le_words(bytes, bits);
                if words.len() < plane || ![1, 8, 16, 32].contains(&bits) {
                    return Err(DicomError::Decode {
                        path: path.to_owned(),
                        detail: format!(
                            "decoder returned {} bytes at {bits} bits, expected {plane} samples",
                            bytes.len()
                        ),
                    });
                }
                let fmt = PixelFormat { bits_allocated: bits, ..h.format };
                outside |= convert_frame(&words, &fmt, h.rescale, out);
            }
        }
        Value::Sequence(_) => {
            return Err(DicomError::Decode {
                path: path.to_owned(),
                detail: "PixelData is a sequence, expected pixel samples".into(),
            });
        }
    }
    Ok(outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(bits_stored: u16, high_bit: u16, signed: bool) -> PixelFormat {
        PixelFormat { bits_allocated: 16, bits_stored, high_bit, signed, samples_per_pixel: 1, monochrome1: false }
    }

    #[test]
    fn masks_garbage_high_bits_and_extends_sign() {
        // 12-bit value 0x0F0F with garbage 0xA000 above it.
        assert_eq!(stored_value(0xAF0F, &fmt(12, 11, false)), 0xF0F);
        // 12-bit two's complement 0xF0F is negative: 0xF0F - 4096 = -241.
        assert_eq!(stored_value(0xAF0F, &fmt(12, 11, true)), -241);
        // Stored bits need not start at bit 0.
        assert_eq!(stored_value(0x0FF0, &fmt(8, 11, false)), 0xFF);
        let mono1 = PixelFormat { monochrome1: true, ..fmt(12, 11, false) };
        assert_eq!(stored_value(0, &mono1), 4095);
    }

    #[test]
    fn fast_path_agrees_with_general_path() {
        let raw: Vec<u16> = (0..4096u16).map(|v| v.wrapping_mul(37) ^ 0xA000).collect();
        for signed in [false, true] {
            let f = fmt(12, 11, signed);
            let r = Rescale { slope: 1.0, intercept: -1024.0 };
            let mut fast = vec![0f32; raw.len()];
            convert_frame(&Words::U16(&raw), &f, r, &mut fast);
            let bytes: Vec<u8> = raw.iter().flat_map(|v| v.to_le_bytes()).collect();
            let mut slow = vec![0f32; raw.len()];
            convert_frame(&Words::LeBytes(&bytes, 16), &f, r, &mut slow);
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn i16_for_whole_rescales_and_overflow_is_reported() {
        let mut h = crate::core::dicom::series::tests_support::header();
        h.rescale = Rescale { slope: 1.0, intercept: -1024.0 };
        assert_eq!(choose_kind(std::slice::from_ref(&h)), SampleKind::I16);
        h.rescale.slope = 0.5;
        assert_eq!(choose_kind(std::slice::from_ref(&h)), SampleKind::F32);
        let f = fmt(16, 15, false);
        let mut out = [0i16; 2];
        assert!(!convert_frame(&Words::U16(&[0, 32767]), &f, Rescale::default(), &mut out));
        assert!(convert_frame(&Words::U16(&[0, 40000]), &f, Rescale::default(), &mut out));
        assert_eq!(out, [0, i16::MAX]);
    }
}
