//! RLE Lossless (PS3.5 Annex G), decoded here: dicom-rs's decoder refuses 32-bit samples (RT
//! dose grids) and panicked on a malformed stream the fuzzer found. A frame is a 64-byte header
//! (the number of segments and up to 15 offsets), then one PackBits segment per byte plane, the
//! most significant byte of each sample first.

/// The frame's samples as little-endian words of `bits_allocated` bits (8, 16 or 32), one
/// sample per pixel.
pub fn decode(frame: &[u8], pixels: usize, bits_allocated: u16) -> Result<Vec<u8>, String> {
    let bytes = match bits_allocated {
        8 | 16 | 32 => bits_allocated as usize / 8,
        b => return Err(format!("{b}-bit samples are not 8, 16 or 32 bits")),
    };
    let word = |at: usize| frame.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let segments = word(0).ok_or("the frame is shorter than the RLE header")?;
    if segments != bytes {
        return Err(format!("{segments} segment(s) for {bits_allocated}-bit samples, expected {bytes}"));
    }
    let offsets: Vec<usize> = (0..segments).map(|s| word(4 + 4 * s).unwrap_or(0)).collect();
    let mut out = vec![0u8; pixels * bytes];
    for (s, &start) in offsets.iter().enumerate() {
        let end = offsets.get(s + 1).copied().unwrap_or(frame.len());
        if start < 64 || start > end || end > frame.len() {
            return Err(format!("segment {} lies outside the frame ({start}..{end} of {} bytes)", s + 1, frame.len()));
        }
        // Segment 0 holds the most significant bytes: the last byte of a little-endian word.
        let plane =
            unpack(&frame[start..end], pixels).ok_or_else(|| format!("segment {} holds too few bytes", s + 1))?;
        let lane = bytes - 1 - s;
        for (i, b) in plane.into_iter().enumerate() {
            out[i * bytes + lane] = b;
        }
    }
    Ok(out)
}

/// PackBits: a count byte n, then n + 1 literal bytes (n >= 0) or one byte repeated 1 - n times
/// (n < 0; -128 is nothing). `None` when the segment ends before `len` bytes.
fn unpack(segment: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while out.len() < len {
        let n = *segment.get(i)? as i8;
        i += 1;
        if n >= 0 {
            let run = segment.get(i..i + n as usize + 1)?;
            out.extend_from_slice(run);
            i += run.len();
        } else if n != -128 {
            let b = *segment.get(i)?;
            out.extend(std::iter::repeat_n(b, 1 - n as isize as usize));
            i += 1;
        }
    }
    out.truncate(len);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PackBits of PS3.5 G.3.1's example, and a 16-bit frame of two planes.
    #[test]
    fn unpacks_runs_and_literals_into_byte_planes() {
        assert_eq!(unpack(&[2, 1, 2, 3, 0xFE, 7, 0x80, 0, 9], 7), Some(vec![1, 2, 3, 7, 7, 7, 9]));
        assert_eq!(unpack(&[5, 1], 6), None, "a literal run past the end");
        let mut frame = vec![0u8; 64];
        frame[0] = 2;
        frame[4] = 64;
        frame[8] = 66;
        frame.extend([0xFD, 0x12]); // 4 x 0x12, the high bytes
        frame.extend([3, 1, 2, 3, 4]); // the low bytes
        let words = decode(&frame, 4, 16).unwrap();
        assert_eq!(words, [1, 0x12, 2, 0x12, 3, 0x12, 4, 0x12]);
        assert!(decode(&frame, 4, 32).unwrap_err().contains("2 segment(s)"));
        assert!(decode(&frame[..40], 4, 16).is_err());
    }
}
