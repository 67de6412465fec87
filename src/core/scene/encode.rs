//! Writing an animation's frames: an animated GIF (plays in any browser, slide program or
//! e-mail), an MP4 (H.264 by Cisco's OpenH264, for lectures: smaller and in full colour), or a
//! folder of numbered PNG images (for editing elsewhere). Each is written under another name
//! first and renamed when complete, so nothing is left half-written.

use std::path::{Path, PathBuf};

use crate::core::io::written_whole;
use crate::core::report::raster::Rgb;

/// What `--out` asks for, by its name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Gif,
    Mp4,
    /// Numbered PNG images (`frame_0000.png`, ...) in a folder.
    Frames,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot write the animation: {error}")]
pub struct EncodeError {
    pub path: PathBuf,
    pub error: String,
}

impl Format {
    /// The format a name asks for: F.gif, F.mp4, or a folder (an existing one, or a name
    /// ending in '/').
    pub fn of(path: &Path) -> Result<Format, String> {
        if path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/') {
            return Ok(Format::Frames);
        }
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("gif") => Ok(Format::Gif),
            Some("mp4") => Ok(Format::Mp4),
            Some("webm") => Err(format!(
                "{}: WebM is not written; ask for F.mp4 (H.264, which browsers and slide programs play)",
                path.display()
            )),
            _ => Err(format!("{}: expected F.gif, F.mp4 or a folder for PNG images (ending in '/')", path.display())),
        }
    }

    /// Frames per second: a GIF's delays are in hundredths of a second and its frames are large,
    /// so it runs at 10; video and images at 25.
    pub fn fps(self) -> u32 {
        match self {
            Format::Gif => 10,
            Format::Mp4 | Format::Frames => 25,
        }
    }

    /// What the frames' size must satisfy, if anything (H.264 works on 2 x 2 blocks of colour).
    pub fn check_size(self, size: usize) -> Result<(), String> {
        if self == Format::Mp4 && size % 2 == 1 {
            return Err(format!("an MP4 needs an even frame size, not {size}"));
        }
        Ok(())
    }

    pub fn write(self, frames: &[Rgb], path: &Path) -> Result<(), EncodeError> {
        let fail = |e: &dyn std::fmt::Display| EncodeError { path: path.to_owned(), error: e.to_string() };
        if frames.is_empty() {
            return Err(fail(&"no frames"));
        }
        match self {
            Format::Gif => written_whole(path, |partial| write_gif(frames, partial, self.fps()), |e| e.to_string())
                .map_err(|e| fail(&e)),
            Format::Mp4 => written_whole(path, |partial| write_mp4(frames, partial, self.fps()), |e| e.to_string())
                .map_err(|e| fail(&e)),
            Format::Frames => write_frames(frames, path).map_err(|e| fail(&e)),
        }
    }
}

/// A looping animated GIF.
fn write_gif(frames: &[Rgb], path: &Path, fps: u32) -> Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let (w, h) = (frames[0].width as u16, frames[0].height as u16);
    let file = std::fs::File::create(path).map_err(|e| s(&e))?;
    let mut encoder = gif::Encoder::new(std::io::BufWriter::new(file), w, h, &[]).map_err(|e| s(&e))?;
    encoder.set_repeat(gif::Repeat::Infinite).map_err(|e| s(&e))?;
    for image in frames {
        let rgb: Vec<u8> = image.pixels.iter().flatten().copied().collect();
        let mut frame = gif::Frame::from_rgb_speed(w, h, &rgb, 10);
        frame.delay = (100 / fps) as u16;
        encoder.write_frame(&frame).map_err(|e| s(&e))?;
    }
    Ok(())
}

/// The H.264 quantiser: 0 lossless to 51 coarsest; 22 keeps edges and shading sharp.
const QP: u8 = 22;

/// H.264 (constrained baseline, by OpenH264) in an MP4 file, a key frame every second so that a
/// player can seek.
fn write_mp4(frames: &[Rgb], path: &Path, fps: u32) -> Result<(), String> {
    use openh264::encoder::{
        BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange, RateControlMode, VuiConfig,
    };
    use openh264::formats::YUVBuffer;

    let s = |e: &dyn std::fmt::Display| e.to_string();
    let (w, h) = (frames[0].width, frames[0].height);
    // A fixed quantiser, without rate control (which would drop frames to keep a bit rate):
    // every frame is kept, smooth-shaded surfaces stay clean, the file stays small.
    let config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(u32::MAX / 4))
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .rate_control_mode(RateControlMode::Off)
        .qp(QpRange::new(QP, QP))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(fps))
        // The colours as `i420` converts them, said in the stream for players.
        .vui(VuiConfig::bt601());
    let mut encoder = Encoder::with_api_config(openh264::OpenH264API::from_source(), config).map_err(|e| s(&e))?;

    // The encoder's NAL units, in order: parameter sets go into the file's header, the
    // pictures into samples (each NAL unit prefixed by its length, as MP4 wants).
    let mut parameter_sets: (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut samples: Vec<(bool, Vec<u8>)> = Vec::with_capacity(frames.len());
    for image in frames {
        let yuv = YUVBuffer::from_vec(i420(image), w, h);
        let stream = encoder.encode(&yuv).map_err(|e| s(&e))?;
        let key = stream.frame_type() == FrameType::IDR;
        let mut sample = Vec::new();
        for layer in (0..stream.num_layers()).filter_map(|i| stream.layer(i)) {
            for nal in (0..layer.nal_count()).filter_map(|i| layer.nal_unit(i)) {
                let nal = without_start_code(nal);
                match nal.first().map(|b| b & 0x1f) {
                    Some(7) => parameter_sets.0 = Some(nal.to_vec()),
                    Some(8) => parameter_sets.1 = Some(nal.to_vec()),
                    Some(_) => {
                        sample.extend((nal.len() as u32).to_be_bytes());
                        sample.extend(nal);
                    }
                    None => {}
                }
            }
        }
        if sample.is_empty() {
            return Err(format!("the encoder gave no picture for frame {}", samples.len()));
        }
        samples.push((key, sample));
    }
    let (Some(sps), Some(pps)) = parameter_sets else { return Err("the encoder gave no parameter sets".into()) };

    let timescale = 90_000;
    let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| s(&e))?);
    let brand = |b: &str| b.parse::<mp4::FourCC>().expect("four letters");
    let config = mp4::Mp4Config {
        major_brand: brand("isom"),
        minor_version: 512,
        compatible_brands: vec![brand("isom"), brand("iso2"), brand("avc1"), brand("mp41")],
        timescale,
    };
    let mut writer = mp4::Mp4Writer::write_start(file, &config).map_err(|e| s(&e))?;
    writer
        .add_track(&mp4::TrackConfig {
            track_type: mp4::TrackType::Video,
            timescale,
            language: "und".into(),
            media_conf: mp4::MediaConfig::AvcConfig(mp4::AvcConfig {
                width: w as u16,
                height: h as u16,
                seq_param_set: sps,
                pic_param_set: pps,
            }),
        })
        .map_err(|e| s(&e))?;
    let duration = timescale / fps;
    for (k, (key, bytes)) in samples.into_iter().enumerate() {
        let sample = mp4::Mp4Sample {
            start_time: k as u64 * u64::from(duration),
            duration,
            rendering_offset: 0,
            is_sync: key,
            bytes: bytes::Bytes::from(bytes),
        };
        writer.write_sample(1, &sample).map_err(|e| s(&e))?;
    }
    writer.write_end().map_err(|e| s(&e))?;
    use std::io::Write;
    writer.into_writer().flush().map_err(|e| s(&e))
}

/// An image as H.264 takes it: BT.601 luma and chroma in limited range (16-235, 16-240), chroma
/// averaged over 2 x 2 pixels, rounded (the encoder crate's own conversion truncates, which
/// darkens every colour by about two levels).
fn i420(image: &Rgb) -> Vec<u8> {
    let (w, h) = (image.width, image.height);
    let rgb = |x: usize, y: usize| image.pixels[y * w + x].map(f32::from);
    let level = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    let mut out = Vec::with_capacity(w * h * 3 / 2);
    out.extend((0..w * h).map(|i| {
        let [r, g, b] = rgb(i % w, i / w);
        level(16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0)
    }));
    let mean = |x: usize, y: usize| {
        let q = [rgb(2 * x, 2 * y), rgb(2 * x + 1, 2 * y), rgb(2 * x, 2 * y + 1), rgb(2 * x + 1, 2 * y + 1)];
        [0, 1, 2].map(|c| q.iter().map(|p| p[c]).sum::<f32>() / 4.0)
    };
    let half = (0..h / 2).flat_map(|y| (0..w / 2).map(move |x| (x, y)));
    out.extend(half.clone().map(|(x, y)| {
        let [r, g, b] = mean(x, y);
        level(128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0)
    }));
    out.extend(half.map(|(x, y)| {
        let [r, g, b] = mean(x, y);
        level(128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0)
    }));
    out
}

/// A NAL unit without its Annex B start code (00 00 01 or 00 00 00 01).
fn without_start_code(nal: &[u8]) -> &[u8] {
    nal.strip_prefix(&[0, 0, 0, 1]).or_else(|| nal.strip_prefix(&[0, 0, 1])).unwrap_or(nal)
}

/// Numbered PNG images in a folder that is empty or new, written into a folder beside it that
/// is renamed once complete.
fn write_frames(frames: &[Rgb], dir: &Path) -> Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    if dir.is_dir() && std::fs::read_dir(dir).map_err(|e| s(&e))?.next().is_some() {
        return Err("the folder is not empty: name a new or empty one".into());
    }
    let dir = dir.components().as_path();
    let mut partial = dir.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let write = || -> Result<(), String> {
        std::fs::create_dir_all(&partial).map_err(|e| s(&e))?;
        for (k, image) in frames.iter().enumerate() {
            std::fs::write(partial.join(format!("frame_{k:04}.png")), image.png()).map_err(|e| s(&e))?;
        }
        if dir.is_dir() {
            std::fs::remove_dir(dir).map_err(|e| s(&e))?;
        }
        std::fs::rename(&partial, dir).map_err(|e| s(&e))
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_says_the_format() {
        assert_eq!(Format::of(Path::new("a/turn.GIF")), Ok(Format::Gif));
        assert_eq!(Format::of(Path::new("turn.mp4")), Ok(Format::Mp4));
        assert_eq!(Format::of(Path::new("frames/")), Ok(Format::Frames));
        assert!(Format::of(Path::new("turn.webm")).unwrap_err().contains("WebM is not written"));
        assert!(Format::of(Path::new("turn.avi")).unwrap_err().contains("expected F.gif, F.mp4 or a folder"));
        assert!(Format::Mp4.check_size(361).is_err() && Format::Gif.check_size(361).is_ok());
    }

    /// BT.601's reference colours (ITU-R BT.601 with the limited-range scaling of the standard).
    #[test]
    fn colours_convert_as_bt601_says() {
        let image = |c: [u8; 3]| Rgb { width: 2, height: 2, pixels: vec![c; 4] };
        assert_eq!(i420(&image([0, 0, 0])), [16, 16, 16, 16, 128, 128]);
        assert_eq!(i420(&image([255, 255, 255])), [235, 235, 235, 235, 128, 128]);
        assert_eq!(i420(&image([255, 0, 0])), [81, 81, 81, 81, 90, 240]);
        assert_eq!(i420(&image([0, 0, 255])), [41, 41, 41, 41, 240, 110]);
    }

    #[test]
    fn start_codes_of_both_lengths_are_removed() {
        assert_eq!(without_start_code(&[0, 0, 0, 1, 0x67, 9]), &[0x67, 9]);
        assert_eq!(without_start_code(&[0, 0, 1, 0x68]), &[0x68]);
        assert_eq!(without_start_code(&[0x65, 1]), &[0x65, 1]);
    }
}
