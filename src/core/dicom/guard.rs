//! A pre-flight walk over a file's element headers, before the full parser sees it: every
//! declared value length must fit in what is left of the file. The parser allocates and zeroes
//! each value at its declared length before reading it, so a corrupt length field (up to 4 GB)
//! would otherwise cost gigabytes of memory per file. The walk reads only element headers and
//! seeks over values; where it meets something it does not understand it stops and lets the
//! parser decide, so it never rejects a file for being merely unusual.

use std::io::{Cursor, Read, Seek, SeekFrom};

const UNDEFINED: u32 = 0xFFFF_FFFF;
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy)]
struct Encoding {
    explicit: bool,
    big_endian: bool,
}

/// What the guard found wrong.
#[derive(Debug, PartialEq)]
pub enum Guard {
    /// A length that cannot be: the message says which element and where.
    Corrupt(String),
    /// A deflated data set: call again with the whole file.
    NeedWholeFile,
}

/// The most a deflated data set may inflate to.
const MAX_INFLATED: u64 = 1 << 30;

fn inflate(data: &[u8]) -> Result<Vec<u8>, Stop> {
    let mut out = Vec::new();
    let mut d = flate2::read::DeflateDecoder::new(data).take(MAX_INFLATED + 1);
    // A stream that ends early is left to the parser to report; its inflated part is walked.
    let _ = d.read_to_end(&mut out);
    if out.len() as u64 > MAX_INFLATED {
        return Err(Stop::Corrupt(format!("the deflated data set inflates to more than {} MiB", MAX_INFLATED >> 20)));
    }
    Ok(out)
}

/// Why the walk stopped early.
enum Stop {
    NeedWholeFile,
    /// A length that cannot be: the file is corrupt or truncated (the message says where).
    Corrupt(String),
    /// Something outside this walker's knowledge (or end of data): leave it to the parser.
    Unknown,
}

struct Walker<'a, R> {
    src: &'a mut R,
    len: u64,
}

impl<R: Read + Seek> Walker<'_, R> {
    fn pos(&mut self) -> Result<u64, Stop> {
        self.src.stream_position().map_err(|_| Stop::Unknown)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let mut b = [0u8; N];
        self.src.read_exact(&mut b).map_err(|_| Stop::Unknown)?;
        Ok(b)
    }

    fn u16(&mut self, e: Encoding) -> Result<u16, Stop> {
        let b = self.bytes::<2>()?;
        Ok(if e.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn u32(&mut self, e: Encoding) -> Result<u32, Stop> {
        let b = self.bytes::<4>()?;
        Ok(if e.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    /// Checks that `n` bytes fit after the current position and skips them.
    fn skip(&mut self, n: u32, tag: (u16, u16)) -> Result<(), Stop> {
        let at = self.pos()?;
        let left = self.len.saturating_sub(at);
        if n as u64 > left {
            return Err(Stop::Corrupt(format!(
                "element ({:04X},{:04X}) at byte {at} declares {n} bytes but only {left} remain: the file is truncated or corrupt",
                tag.0, tag.1
            )));
        }
        self.src.seek(SeekFrom::Current(n as i64)).map_err(|_| Stop::Unknown)?;
        Ok(())
    }

    /// Checks that a value of `n` bytes fits after the current position and moves past what
    /// the parser reads of it: a binary value of a length that is not a whole number of its
    /// units is read only to the last whole unit, so the parser goes on from there.
    fn skip_value(&mut self, n: u32, vr: [u8; 2], tag: (u16, u16)) -> Result<(), Stop> {
        let unit = match &vr {
            b"US" | b"OW" | b"SS" => 2,
            b"AT" | b"FL" | b"OF" | b"SL" | b"UL" | b"OL" => 4,
            b"FD" | b"OD" | b"SV" | b"OV" | b"UV" => 8,
            _ => 1,
        };
        self.skip(n, tag)?;
        self.src.seek(SeekFrom::Current(-i64::from(n % unit))).map_err(|_| Stop::Unknown)?;
        Ok(())
    }

    /// One element header: tag, VR and length. In implicit VR the VR is the dictionary's, as
    /// the parser takes it.
    fn header(&mut self, e: Encoding) -> Result<((u16, u16), [u8; 2], u32), Stop> {
        let tag = (self.u16(e)?, self.u16(e)?);
        if !e.explicit {
            return Ok((tag, implicit_vr(tag), self.u32(e)?));
        }
        if tag.0 == 0xFFFE {
            return Ok((tag, *b"UN", self.u32(e)?));
        }
        // As the parser reads it (PS3.5 7.1.2): these VRs have a 16-bit length; every other VR,
        // unknown ones included, has two reserved bytes and a 32-bit length.
        let vr = self.bytes::<2>()?;
        let short = matches!(
            &vr,
            b"AE"
                | b"AS"
                | b"AT"
                | b"CS"
                | b"DA"
                | b"DS"
                | b"DT"
                | b"FL"
                | b"FD"
                | b"IS"
                | b"LO"
                | b"LT"
                | b"PN"
                | b"SH"
                | b"SL"
                | b"SS"
                | b"ST"
                | b"TM"
                | b"UI"
                | b"UL"
                | b"US"
        );
        let len = if short {
            self.u16(e)? as u32
        } else {
            self.bytes::<2>()?;
            self.u32(e)?
        };
        Ok((tag, vr, len))
    }

    /// Walks elements until the end of the data, an item delimiter (inside an item) or `end`.
    fn elements(&mut self, e: Encoding, depth: usize, end: Option<u64>) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop::Unknown);
        }
        loop {
            if let Some(end) = end
                && self.pos()? >= end
            {
                return Ok(());
            }
            let (tag, vr, len) = match self.header(e) {
                Ok(h) => h,
                Err(Stop::Unknown) if end.is_none() && depth == 0 => return Ok(()),
                Err(s) => return Err(s),
            };
            if tag == (0xFFFE, 0xE00D) {
                if depth > 0 || end.is_some() {
                    return Ok(());
                }
                // A stray item delimiter outside any item ends nothing: the parser reads on past
                // it (a delimiter has no value, whatever its length field says), so the walk
                // must too.
                continue;
            }
            if len == UNDEFINED {
                // Encapsulated pixel data holds fragments; any other undefined length is read by the
                // parser as a sequence of data sets, whatever its VR, and so it is walked here.
                self.items(e, depth + 1, tag == (0x7FE0, 0x0010))?;
            } else if &vr == b"SQ" {
                let start = self.pos()?;
                if len as u64 > self.len.saturating_sub(start) {
                    return self.skip(len, tag);
                }
                self.items_within(e, depth + 1, start + len as u64)?;
            } else {
                self.skip_value(len, vr, tag)?;
            }
        }
    }

    /// Items of an undefined-length sequence, up to the sequence delimiter.
    fn items(&mut self, e: Encoding, depth: usize, fragments: bool) -> Result<(), Stop> {
        loop {
            let tag = (self.u16(e)?, self.u16(e)?);
            let len = self.u32(e)?;
            match tag {
                (0xFFFE, 0xE0DD) => return Ok(()),
                // An item delimiter among pixel data fragments ends the pixel data for the
                // parser (it closes the fragment sequence), which then reads on in the
                // enclosing data set.
                (0xFFFE, 0xE00D) if fragments => return Ok(()),
                (0xFFFE, 0xE000) if len == UNDEFINED && !fragments => self.elements(e, depth, None)?,
                (0xFFFE, 0xE000) if len != UNDEFINED => {
                    if fragments {
                        self.skip(len, tag)?;
                    } else {
                        let start = self.pos()?;
                        if len as u64 > self.len.saturating_sub(start) {
                            return self.skip(len, tag);
                        }
                        self.elements(e, depth, Some(start + len as u64))?;
                    }
                }
                _ if !fragments => {
                    // Not an item where one belongs: the parser reads on as elements of a data
                    // set, so the walk does too, from this header.
                    let at = self.pos()?;
                    self.src.seek(SeekFrom::Start(at - 8)).map_err(|_| Stop::Unknown)?;
                    self.elements(e, depth, None)?;
                }
                _ => return Err(Stop::Unknown),
            }
        }
    }

    /// Items of a defined-length sequence ending at `end`.
    fn items_within(&mut self, e: Encoding, depth: usize, end: u64) -> Result<(), Stop> {
        while self.pos()? < end {
            let tag = (self.u16(e)?, self.u16(e)?);
            let len = self.u32(e)?;
            if tag == (0xFFFE, 0xE0DD) {
                // A sequence delimiter ends even a defined-length sequence for the parser, which
                // then reads on in the enclosing data set.
                return Ok(());
            }
            if tag != (0xFFFE, 0xE000) {
                return Err(Stop::Unknown);
            }
            if len == UNDEFINED {
                self.elements(e, depth, None)?;
            } else {
                let start = self.pos()?;
                if len as u64 > self.len.saturating_sub(start) {
                    return self.skip(len, tag);
                }
                self.elements(e, depth, Some(start + len as u64))?;
            }
        }
        Ok(())
    }

    /// The file meta group (always explicit VR little endian), read as the parser reads it: a
    /// group length (0002,0000) first, then elements until that many bytes have been read,
    /// whatever their tags. Returns the transfer syntax UID.
    fn meta(&mut self) -> Result<Option<String>, Stop> {
        let e = Encoding { explicit: true, big_endian: false };
        let (tag, _, len) = self.header(e)?;
        if tag != (0x0002, 0x0000) || len != 4 {
            return Err(Stop::Unknown);
        }
        let group_length = self.u32(e)? as u64;
        let end = self.pos()? + group_length;
        let mut ts = None;
        while self.pos()? < end {
            let (tag, _, len) = self.header(e)?;
            if len == UNDEFINED {
                return Err(Stop::Unknown);
            }
            if tag == (0x0002, 0x0010) && len <= 64 {
                let mut v = vec![0u8; len as usize];
                self.src.read_exact(&mut v).map_err(|_| Stop::Unknown)?;
                ts = Some(String::from_utf8_lossy(&v).trim_end_matches(['\0', ' ']).to_owned());
            } else {
                self.skip(len, tag)?;
            }
        }
        Ok(ts)
    }
}

/// The VR the parser gives an element in implicit VR: its dictionary's, OW for pixel and
/// overlay data, UN for tags the dictionary does not know.
fn implicit_vr(tag: (u16, u16)) -> [u8; 2] {
    use dicom::core::dictionary::{DataDictionary, DataDictionaryEntry};
    if tag == (0x7FE0, 0x0010) || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
        return *b"OW";
    }
    dicom::dictionary_std::StandardDataDictionary
        .by_tag(dicom::core::Tag(tag.0, tag.1))
        .map_or(*b"UN", |entry| entry.vr().relaxed().to_bytes())
}

/// `Err(message)` when some element declares more bytes than the file holds. `head` is the
/// start of a file of `file_len` bytes (all of it, or enough to cover the header): the walk
/// stops quietly where `head` ends.
pub fn check_lengths(head: &[u8], file_len: u64) -> Result<(), Guard> {
    let src = &mut Cursor::new(head);
    let start = 0;
    let mut w = Walker { src, len: file_len };
    let result = (|| {
        let first = w.bytes::<132>();
        let ts = match first {
            Ok(h) if &h[128..132] == b"DICM" => w.meta()?,
            _ => {
                w.src.seek(SeekFrom::Start(start)).map_err(|_| Stop::Unknown)?;
                if w.bytes::<4>().ok() == Some(*b"DICM") {
                    w.meta()?
                } else {
                    // A data set without file meta, if it starts like one (as the parser decides).
                    let explicit = match super::header::raw_dataset_syntax(head) {
                        Some(uid) => uid == "1.2.840.10008.1.2.1",
                        None => return Ok(()),
                    };
                    w.src.seek(SeekFrom::Start(start)).map_err(|_| Stop::Unknown)?;
                    return w.elements(Encoding { explicit, big_endian: false }, 0, None);
                }
            }
        };
        let encoding = match ts.as_deref() {
            Some("1.2.840.10008.1.2") => Encoding { explicit: false, big_endian: false },
            Some("1.2.840.10008.1.2.2") => Encoding { explicit: true, big_endian: true },
            // A deflated data set is walked inflated, when the whole file is at hand.
            Some("1.2.840.10008.1.2.1.99") => {
                if (head.len() as u64) < file_len {
                    return Err(Stop::NeedWholeFile);
                }
                let at = w.pos()? as usize;
                let inflated = inflate(&head[at.min(head.len())..])?;
                let mut inner = Walker { src: &mut Cursor::new(&inflated[..]), len: inflated.len() as u64 };
                return inner.elements(Encoding { explicit: true, big_endian: false }, 0, None);
            }
            None => return Ok(()),
            Some(_) => Encoding { explicit: true, big_endian: false },
        };
        w.elements(encoding, 0, None)
    })();
    match result {
        Err(Stop::Corrupt(m)) => Err(Guard::Corrupt(m)),
        Err(Stop::NeedWholeFile) => Err(Guard::NeedWholeFile),
        Ok(()) => Ok(()),
        Err(Stop::Unknown) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element_le(tag: (u16, u16), vr: &[u8; 2], value: &[u8], declared: Option<u32>) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(tag.0.to_le_bytes());
        v.extend(tag.1.to_le_bytes());
        v.extend(vr);
        let len = declared.unwrap_or(value.len() as u32);
        if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
            v.extend([0, 0]);
            v.extend(len.to_le_bytes());
        } else {
            v.extend((len as u16).to_le_bytes());
        }
        v.extend(value);
        v
    }

    fn file(body: &[u8]) -> Vec<u8> {
        let ts = element_le((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2.1\0", None);
        let mut f = vec![0u8; 128];
        f.extend(b"DICM");
        f.extend(element_le((0x0002, 0x0000), b"UL", &(ts.len() as u32).to_le_bytes(), None));
        f.extend(ts);
        f.extend(body);
        f
    }

    #[test]
    fn sound_files_pass_and_impossible_lengths_are_caught() {
        let good = file(&element_le((0x0010, 0x0010), b"PN", b"Doe^John", None));
        assert!(check_lengths(&good, good.len() as u64).is_ok());
        let bad = file(&element_le((0x7FE0, 0x0010), b"OW", &[0; 16], Some(0xF000_0000)));
        let Err(Guard::Corrupt(e)) = check_lengths(&bad, bad.len() as u64) else { panic!("not caught") };
        assert!(e.contains("(7FE0,0010)") && e.contains("4026531840 bytes"), "{e}");
    }

    #[test]
    fn lengths_inside_sequences_are_checked() {
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF];
        item.extend(element_le((0x0008, 0x0100), b"SH", b"AB", Some(60000)));
        let sq = element_le((0x0008, 0x1115), b"SQ", &item, Some(UNDEFINED));
        assert!(check_lengths(&file(&sq), file(&sq).len() as u64).is_err());
    }

    #[test]
    fn what_it_does_not_understand_is_left_to_the_parser() {
        assert!(check_lengths(b"not dicom at all", 16).is_ok());
        assert!(check_lengths(&[], 0).is_ok());
    }
}
