//! The real workstation window, end to end: it starts on the bundled phantom under Xvfb with
//! Mesa's software Vulkan, takes its own screenshot, and the picture is checked by pixel
//! statistics. Without a display the test says so; CI sets TWINPLAN_REQUIRE_GUI_TEST=1 to make
//! that a failure.

#![cfg(feature = "gui")]

use std::path::Path;
use std::process::Command;

struct Shot {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Shot {
    fn read(path: &Path) -> Shot {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        let rgb = buf[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
        Shot { width: info.width as usize, height: info.height as usize, rgb }
    }

    /// Fraction of pixels in the rectangle (fractions of width and height) matching `pred`.
    fn fraction(&self, x0: f64, y0: f64, x1: f64, y1: f64, pred: impl Fn([u8; 3]) -> bool) -> f64 {
        let (xa, xb) = ((x0 * self.width as f64) as usize, (x1 * self.width as f64) as usize);
        let (ya, yb) = ((y0 * self.height as f64) as usize, (y1 * self.height as f64) as usize);
        let mut n = 0;
        let mut hit = 0;
        for y in ya..yb {
            for x in xa..xb {
                n += 1;
                if pred(self.rgb[y * self.width + x]) {
                    hit += 1;
                }
            }
        }
        hit as f64 / n.max(1) as f64
    }
}

/// Runs the workstation until it has saved a screenshot; `None` when no display can be had.
fn screenshot(args: &[&str], out: &Path) -> Option<Shot> {
    let exe = env!("CARGO_BIN_EXE_twinplan");
    let have_xvfb = Command::new("xvfb-run").arg("--help").output().is_ok();
    let mut cmd = if have_xvfb {
        let mut c = Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1600x1000x24", exe]);
        c
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        Command::new(exe)
    } else {
        let msg = "GUI test cannot run: no xvfb-run and no display (install xvfb and mesa-vulkan-drivers)";
        assert!(std::env::var_os("TWINPLAN_REQUIRE_GUI_TEST").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return None;
    };
    let status = cmd.args(args).env("TWINPLAN_SCREENSHOT", out).output().expect("start the workstation");
    assert!(status.status.success(), "the workstation failed:\n{}", String::from_utf8_lossy(&status.stderr));
    assert!(out.is_file(), "no screenshot written:\n{}", String::from_utf8_lossy(&status.stderr));
    Some(Shot::read(out))
}

#[test]
fn starts_on_the_phantom_and_shows_panels_and_scene() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(shot) = screenshot(&[], &tmp.path().join("start.png")) else {
        return;
    };
    assert_eq!((shot.width, shot.height), (1600, 1000));
    // The 3D view's dark background fills most of the area right of the panel.
    let background = shot.fraction(0.3, 0.1, 0.95, 0.9, |[r, g, b]| r < 40 && g < 40 && b < 45);
    assert!(background > 0.5, "3D background covers {background:.2}");
    // The scan's outline is drawn in light blue.
    let outline = shot.fraction(0.25, 0.0, 1.0, 1.0, |[r, g, b]| b > 150 && b > r + 40 && g > 100);
    assert!(outline > 0.0005, "outline pixels {outline:.5}");
    // The side panel holds text (light pixels on the panel's grey).
    let text = shot.fraction(0.0, 0.02, 0.2, 0.2, |[r, g, b]| r > 100 && g > 100 && b > 100);
    assert!(text > 0.01, "panel text pixels {text:.4}");
}

#[test]
fn a_bad_folder_shows_the_error_and_no_scene() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let Some(shot) = screenshot(&["open", empty.to_str().unwrap()], &tmp.path().join("error.png")) else {
        return;
    };
    // The error window is drawn over the middle of the screen: lighter than the dark background.
    let window = shot.fraction(0.35, 0.35, 0.65, 0.65, |[r, g, b]| (r as u32 + g as u32 + b as u32) > 90);
    assert!(window > 0.05, "error window pixels {window:.3}");
    let outline = shot.fraction(0.25, 0.0, 1.0, 1.0, |[r, g, b]| b > 150 && b > r + 40 && g > 100);
    assert!(outline < 0.0001, "no scan, no outline ({outline})");
}
