//! Sequential DCT JPEG with Huffman coding (ISO 10918-1 baseline and extended processes), one
//! component, 8 or 12-bit precision. The bundled codec rejects 12-bit extended JPEG, which older
//! CT and MR archives are full of ("JPEG Extended (Process 2 & 4)"); this decodes it.

const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63,
];

/// A decoded greyscale image (of the size the caller asked for).
#[derive(Debug)]
pub struct Image {
    pub precision: u8,
    pub samples: Vec<u16>,
}

#[derive(Clone, Default)]
struct Huffman {
    maxcode: [i32; 18],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    /// Builds the decoding tables of ISO 10918-1 F.2.2.3 from the code counts per length.
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Result<Self, String> {
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total != values.len() || total > 256 {
            return Err("malformed Huffman table".into());
        }
        let mut h = Huffman { maxcode: [-1; 18], values, ..Default::default() };
        let (mut code, mut k) = (0i32, 0i32);
        for len in 1..=16 {
            let n = counts[len - 1] as i32;
            if n > 0 {
                h.valptr[len] = k;
                h.mincode[len] = code;
                code += n;
                k += n;
                h.maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        h.maxcode[17] = i32::MAX;
        Ok(h)
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
}

impl<'a> Bits<'a> {
    fn bit(&mut self) -> u32 {
        if self.n == 0 {
            let mut byte = 0u8;
            if self.pos < self.data.len() {
                byte = self.data[self.pos];
                if byte == 0xFF {
                    match self.data.get(self.pos + 1) {
                        Some(0x00) => self.pos += 2,
                        // A marker: the scan's data ended; pad with zeros (as decoders do).
                        _ => byte = 0,
                    }
                } else {
                    self.pos += 1;
                }
            }
            self.acc = byte as u32;
            self.n = 8;
        }
        self.n -= 1;
        (self.acc >> self.n) & 1
    }

    fn bits(&mut self, count: u32) -> u32 {
        (0..count).fold(0, |v, _| (v << 1) | self.bit())
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, String> {
        let mut code = self.bit() as i32;
        let mut len = 1;
        while code > h.maxcode[len] {
            code = (code << 1) | self.bit() as i32;
            len += 1;
            if len > 16 {
                return Err("invalid Huffman code in the image data".into());
            }
        }
        h.values
            .get((h.valptr[len] + code - h.mincode[len]) as usize)
            .copied()
            .ok_or_else(|| "invalid Huffman code".into())
    }

    /// Skips to the byte after the next RSTn marker and clears the bit buffer.
    fn restart(&mut self) {
        self.n = 0;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
    }
}

/// Sign extension of a received magnitude category (F.2.2.1).
fn extend(v: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

fn idct_table() -> [[f64; 8]; 8] {
    let mut t = [[0.0; 8]; 8];
    for (x, row) in t.iter_mut().enumerate() {
        for (u, c) in row.iter_mut().enumerate() {
            let cu = if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
            *c = cu * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos() / 2.0;
        }
    }
    t
}

fn be16(d: &[u8], at: usize) -> Result<usize, String> {
    d.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        .ok_or_else(|| "JPEG stream ends inside a marker segment".into())
}

/// Decodes one JPEG stream (SOI .. EOI) whose image must be `width` x `height` (checked before
/// anything is allocated for it).
pub fn decode(d: &[u8], width: usize, height: usize) -> Result<Image, String> {
    let expected = (width, height);
    if d.len() < 4 || d[0] != 0xFF || d[1] != 0xD8 {
        return Err("not a JPEG stream (no SOI marker)".into());
    }
    let mut quant = [[0u16; 64]; 4];
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let mut restart_interval = 0usize;
    let mut frame: Option<(u8, usize, usize, usize)> = None; // precision, height, width, quant table
    let mut pos = 2;
    loop {
        while pos < d.len() && d[pos] == 0xFF && d.get(pos + 1) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        if pos + 1 >= d.len() || d[pos] != 0xFF {
            return Err("JPEG stream ends before the image data".into());
        }
        let marker = d[pos + 1];
        pos += 2;
        if marker == 0xD9 {
            return Err("JPEG stream has no scan".into());
        }
        let len = be16(d, pos)?;
        let seg = d.get(pos + 2..pos + len).ok_or("JPEG marker segment runs past the end of the data")?;
        match marker {
            0xDB => {
                let mut s = seg;
                while !s.is_empty() {
                    let (pq, tq) = (s[0] >> 4, (s[0] & 3) as usize);
                    let size = if pq == 0 { 64 } else { 128 };
                    let body = s.get(1..1 + size).ok_or("truncated quantisation table")?;
                    for k in 0..64 {
                        quant[tq][k] =
                            if pq == 0 { body[k] as u16 } else { u16::from_be_bytes([body[2 * k], body[2 * k + 1]]) };
                    }
                    s = &s[1 + size..];
                }
            }
            0xC4 => {
                let mut s = seg;
                while s.len() >= 17 {
                    let (tc, th) = (s[0] >> 4, (s[0] & 3) as usize);
                    let counts: [u8; 16] = s[1..17].try_into().map_err(|_| "truncated Huffman table")?;
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = s.get(17..17 + n).ok_or("truncated Huffman table")?.to_vec();
                    let table = Huffman::new(&counts, values)?;
                    if tc == 0 {
                        dc[th] = Some(table);
                    } else {
                        ac[th] = Some(table);
                    }
                    s = &s[17 + n..];
                }
            }
            0xC0 | 0xC1 => {
                if seg.len() < 6 {
                    return Err("truncated frame header".into());
                }
                let precision = seg[0];
                let height = u16::from_be_bytes([seg[1], seg[2]]) as usize;
                let width = u16::from_be_bytes([seg[3], seg[4]]) as usize;
                let components = seg[5];
                if components != 1 {
                    return Err(format!("{components}-component JPEG (expected one greyscale component)"));
                }
                if !(precision == 8 || precision == 12) || height == 0 || width == 0 {
                    return Err(format!("unsupported JPEG frame: {precision}-bit, {width} x {height}"));
                }
                if (width, height) != expected {
                    return Err(format!(
                        "JPEG image is {width} x {height}, the header says {} x {}",
                        expected.0, expected.1
                    ));
                }
                let tq = *seg.get(8).ok_or("truncated frame header")? as usize & 3;
                frame = Some((precision, height, width, tq));
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(format!(
                    "JPEG process with SOF marker 0x{marker:02X} is not a sequential Huffman DCT image"
                ));
            }
            0xDD => restart_interval = be16(seg, 0)?,
            0xDA => {
                let (precision, height, width, tq) = frame.ok_or("scan before the frame header")?;
                let td = (*seg.get(2).ok_or("truncated scan header")? >> 4) as usize & 3;
                let ta = (seg[2] & 15) as usize & 3;
                // Ss/Se are ignored: sequential scans always code all 64 coefficients (some
                // encoders write zeros there; IJG decodes such files with a warning too).
                let dct = dc[td].as_ref().ok_or("missing DC Huffman table")?;
                let act = ac[ta].as_ref().ok_or("missing AC Huffman table")?;
                let q = quant[tq];
                let mut bits = Bits { data: d, pos: pos + len, acc: 0, n: 0 };
                return scan(&mut bits, dct, act, &q, precision, width, height, restart_interval);
            }
            _ => {} // APPn, COM, DNL...: nothing we need
        }
        pos += len;
    }
}

#[allow(clippy::too_many_arguments)]
fn scan(
    bits: &mut Bits,
    dc: &Huffman,
    ac: &Huffman,
    q: &[u16; 64],
    precision: u8,
    width: usize,
    height: usize,
    restart: usize,
) -> Result<Image, String> {
    let (bw, bh) = (width.div_ceil(8), height.div_ceil(8));
    let table = idct_table();
    let max = (1u32 << precision) - 1;
    let shift = (1 << (precision - 1)) as f64;
    let mut out = vec![0u16; width * height];
    let mut pred = 0i32;
    for b in 0..bw * bh {
        if restart > 0 && b > 0 && b % restart == 0 {
            bits.restart();
            pred = 0;
        }
        let mut coef = [0f64; 64];
        let s = bits.decode(dc)? as u32;
        pred += extend(bits.bits(s), s);
        coef[0] = pred as f64 * q[0] as f64;
        let mut k = 1;
        while k < 64 {
            let rs = bits.decode(ac)?;
            let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
            if s == 0 {
                if r == 15 {
                    k += 16;
                    continue;
                }
                break;
            }
            k += r;
            if k > 63 {
                return Err("corrupt JPEG data (coefficient index past 63)".into());
            }
            coef[ZIGZAG[k]] = extend(bits.bits(s), s) as f64 * q[k] as f64;
            k += 1;
        }
        // Separable inverse DCT: columns of coefficients, then rows.
        let mut tmp = [0f64; 64];
        for x in 0..8 {
            for v in 0..8 {
                tmp[v * 8 + x] = (0..8).map(|u| table[x][u] * coef[v * 8 + u]).sum();
            }
        }
        let (bx, by) = (b % bw, b / bw);
        for y in 0..8 {
            let py = by * 8 + y;
            if py >= height {
                break;
            }
            for x in 0..8 {
                let px = bx * 8 + x;
                if px >= width {
                    break;
                }
                let val: f64 = (0..8).map(|v| table[y][v] * tmp[v * 8 + x]).sum::<f64>() + shift;
                out[py * width + px] = val.round().clamp(0.0, max as f64) as u16;
            }
        }
    }
    Ok(Image { precision, samples: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_follows_the_standard() {
        assert_eq!(extend(0, 1), -1);
        assert_eq!(extend(1, 1), 1);
        assert_eq!(extend(0b010, 3), -5);
        assert_eq!(extend(0b110, 3), 6);
    }

    #[test]
    fn idct_of_a_dc_block_is_flat() {
        let t = idct_table();
        // F(0,0) = 8 * value gives a flat block of `value` (1/sqrt(2) * 1/sqrt(2) / 4 * 8 = 1).
        let v: f64 = t[3][0] * t[5][0] * 8.0;
        assert!((v - 1.0).abs() < 1e-12);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xC1, 0x00], 4, 4).is_err());
        assert!(decode(&[1, 2, 3], 4, 4).is_err());
        let mut d =
            vec![0xFF, 0xD8, 0xFF, 0xC1, 0, 11, 12, 0, 4, 0, 4, 1, 1, 0x11, 0, 0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0];
        d.extend([0xAB; 10]);
        assert!(decode(&d, 4, 4).is_err());
        // A frame header claiming 65535 x 65535 is refused before allocating.
        let huge = [0xFF, 0xD8, 0xFF, 0xC1, 0, 11, 12, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0x11, 0];
        assert!(decode(&huge, 4, 4).unwrap_err().contains("65535 x 65535"));
    }
}
