//! The real workstation window, end to end: it starts on the bundled phantom under Xvfb with
//! Mesa's software Vulkan, takes its own screenshot, and the picture is checked by pixel
//! statistics. Without a display the test says so; CI sets TWINPLAN_REQUIRE_GUI_TEST=1 to make
//! that a failure.

#![cfg(feature = "gui")]

use std::path::Path;
use std::process::Command;

/// A test on a pixel's red, green and blue (0-255), in wide integers: sums and differences
/// must not wrap (in u8 they did, and white counted as red and green).
type Pred = fn([i32; 3]) -> bool;

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
    fn fraction(&self, x0: f64, y0: f64, x1: f64, y1: f64, pred: impl Fn([i32; 3]) -> bool) -> f64 {
        let (xa, xb) = ((x0 * self.width as f64) as usize, (x1 * self.width as f64) as usize);
        let (ya, yb) = ((y0 * self.height as f64) as usize, (y1 * self.height as f64) as usize);
        let mut n = 0;
        let mut hit = 0;
        for y in ya..yb {
            for x in xa..xb {
                n += 1;
                if pred(self.rgb[y * self.width + x].map(i32::from)) {
                    hit += 1;
                }
            }
        }
        hit as f64 / n.max(1) as f64
    }
}

/// Runs the workstation until it has saved a screenshot; `None` when no display can be had.
fn screenshot(args: &[&str], out: &Path) -> Option<Shot> {
    screenshot_with(args, &[], out)
}

/// As [`screenshot`], with more of the screenshot mode's settings in the environment.
fn screenshot_with(args: &[&str], env: &[(&str, &str)], out: &Path) -> Option<Shot> {
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
    let status = cmd
        .args(args)
        .env("TWINPLAN_SCREENSHOT", out)
        .envs(env.iter().copied())
        .output()
        .expect("start the workstation");
    assert!(status.status.success(), "the workstation failed:\n{}", String::from_utf8_lossy(&status.stderr));
    assert!(out.is_file(), "no screenshot written:\n{}", String::from_utf8_lossy(&status.stderr));
    Some(Shot::read(out))
}

#[test]
fn starts_on_the_phantom_with_its_anatomy_in_3d_and_slices() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(shot) = screenshot(&[], &tmp.path().join("start.png")) else {
        return;
    };
    assert_eq!((shot.width, shot.height), (1600, 1000));
    // The 3D view (left of the slice column) shows the structures in their colours. The tumour
    // (upper left of the head, the patient's left on the right of an anterior view) and the
    // optic nerves (crossing low in the middle) are looked for where they are, away from the
    // planes' outlines.
    let view_3d = (0.3, 0.05, 0.69, 0.95);
    let tumour_region = (0.515, 0.40, 0.57, 0.48);
    let nerve_region = (0.42, 0.5, 0.52, 0.65);
    // Green seen through the translucent scalp and skull (lit without overexposure, so the
    // skin's beige mixes in): well above red and blue, which neither the skin nor bone is.
    let is_green: Pred = |[r, g, b]| g > r + 25 && g > b + 40;
    // The vessels are looked for where the superior sagittal sinus runs up the midline, above
    // the axial plane's red outline; seen through the scalp and skull their red is muted.
    let vessel_region = (0.47, 0.32, 0.505, 0.42);
    let is_reddish: Pred = |[r, g, b]| r > g + 45 && r > b + 45;
    let is_red: Pred = |[r, g, b]| r > g + 70 && r > b + 70;
    // Yellow seen through the translucent scalp and skull: red and green high and alike, blue
    // well below them (the bone's cream and the skin's pink are not).
    let is_yellow: Pred = |[r, g, b]| g > 150 && r.abs_diff(g) < 35 && b < g.saturating_sub(45);
    let structures = [
        ("tumour", tumour_region, is_green),
        ("vessels", vessel_region, is_reddish),
        ("nerves", nerve_region, is_yellow),
    ];
    let covered: Vec<f64> =
        structures.iter().map(|&(_, (x0, y0, x1, y1), pred)| shot.fraction(x0, y0, x1, y1, pred)).collect();
    let (x0, y0, x1, y1) = view_3d;
    let skin = shot.fraction(x0, y0, x1, y1, |[r, g, b]| r > 150 && g > 130 && b > 100 && r >= b);
    eprintln!(
        "3D: tumour {:.4}, vessels {:.4}, nerves {:.4}, skin/skull {skin:.4}",
        covered[0], covered[1], covered[2]
    );
    for ((name, _, _), (&have, least)) in structures.iter().zip(covered.iter().zip([0.2, 0.1, 0.01])) {
        assert!(have > least, "{name} cover {have:.4} of their region");
    }
    assert!(skin > 0.05, "scalp and skull cover {skin:.4}");
    // Each slice view shows the head: grey tissue and the bright skull, on black.
    for (i, name) in ["axial", "coronal", "sagittal"].iter().enumerate() {
        let y0 = 0.03 + i as f64 * 0.316;
        let head = shot.fraction(0.72, y0 + 0.03, 0.99, y0 + 0.28, |[r, g, b]| r + g + b > 60);
        let bone = shot.fraction(0.72, y0 + 0.03, 0.99, y0 + 0.28, |[r, g, b]| r > 200 && g > 200 && b > 180);
        eprintln!("{name}: head {head:.3}, skull {bone:.3}");
        assert!(head > 0.25, "{name} view: head covers {head:.3}");
        assert!(bone > 0.02, "{name} view: skull covers {bone:.3}");
    }
    // The colours come from the surfaces, not from lines over them: with surfaces off they go.
    let plan = no_surfaces_plan(tmp.path());
    let bare = screenshot(&["open", plan.to_str().unwrap()], &tmp.path().join("bare.png")).unwrap();
    for (&(name, (x0, y0, x1, y1), pred), &with) in structures.iter().zip(&covered) {
        let without = bare.fraction(x0, y0, x1, y1, pred);
        eprintln!("{name}: {with:.4} with surfaces, {without:.4} without");
        assert!(without < with / 3.0, "{name}: {without:.4} without surfaces, {with:.4} with");
    }
    // The orientation marker in the 3D view's lower-left corner: the S-I axis (red) and the
    // R-L axis (yellow) of an anterior view.
    let marker_red = shot.fraction(0.27, 0.86, 0.34, 0.98, is_red);
    let marker_yellow = shot.fraction(0.27, 0.86, 0.34, 0.98, |[r, g, b]| r > 170 && g > 150 && b < 120);
    eprintln!("marker: red {marker_red:.4}, yellow {marker_yellow:.4}");
    assert!(marker_red > 0.003 && marker_yellow > 0.003, "orientation marker {marker_red:.4} {marker_yellow:.4}");
    // The side panel holds text (light pixels on the panel's grey).
    let text = shot.fraction(0.0, 0.02, 0.2, 0.2, |[r, g, b]| r > 100 && g > 100 && b > 100);
    assert!(text > 0.01, "panel text pixels {text:.4}");
}

/// The bundled plan with surfaces switched off and no trajectory (paths made absolute for its
/// new folder).
fn no_surfaces_plan(dir: &Path) -> std::path::PathBuf {
    let phantom = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_scans/phantom");
    let text = std::fs::read_to_string(phantom.join("phantom.twinplan.json")).unwrap();
    let mut plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    let abs = |v: &mut serde_json::Value| *v = phantom.join(v.as_str().unwrap()).to_str().unwrap().into();
    abs(&mut plan["scan"]["path"]);
    abs(&mut plan["label_map"]);
    for s in plan["segmentation"]["segments"].as_array_mut().unwrap() {
        for step in s["steps"].as_array_mut().unwrap().iter_mut().filter(|s| s.get("file").is_some()) {
            abs(&mut step["file"]);
        }
    }
    for s in plan["secondary_scans"].as_array_mut().unwrap() {
        abs(&mut s["scan"]["path"]);
    }
    plan["view"]["show_meshes"] = false.into();
    // No trajectory either: its instrument and labels are drawn in the verdict's green.
    plan["trajectories"] = serde_json::json!([]);
    let out = dir.join("bare.twinplan.json");
    std::fs::write(&out, serde_json::to_string(&plan).unwrap()).unwrap();
    out
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
    let window = shot.fraction(0.35, 0.35, 0.65, 0.65, |[r, g, b]| r + g + b > 90);
    assert!(window > 0.05, "error window pixels {window:.3}");
    // No scan: the slice views are not drawn (no bright skull pixels in their column).
    let bone = shot.fraction(0.72, 0.05, 0.99, 0.95, |[r, g, b]| r > 200 && g > 200 && b > 180);
    assert!(bone < 0.001, "no scan, no slices ({bone})");
}

/// A corrupt settings file: the workstation starts all the same, on the defaults, keeps the
/// file aside as settings.toml.bad, writes the defaults in its place, says so in orange in the
/// status bar (none there without the notice), and remembers the plan it opened as the first
/// recent file.
#[test]
fn a_corrupt_settings_file_gives_the_defaults_a_notice_and_keeps_the_recent_plan() {
    use twinplan::core::settings::Settings;
    let tmp = tempfile::tempdir().unwrap();
    let settings = tmp.path().join("settings.toml");
    std::fs::write(&settings, "instrument = [[[ not toml").unwrap();
    let env = [("TWINPLAN_SETTINGS", settings.to_str().unwrap())];
    let Some(shot) = screenshot_with(&[], &env, &tmp.path().join("settings.png")) else { return };
    assert!(tmp.path().join("settings.toml.bad").is_file());
    let (kept, notice) = Settings::load(&settings);
    assert_eq!(notice, None, "the defaults were written back");
    let plan =
        std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).unwrap().join("sample_scans/phantom/phantom.twinplan.json");
    assert_eq!(kept.recent, vec![plan]);
    // (The side panel's width is what its contents need, at least the default.)
    assert!(kept.layout.side_panel_width >= Settings::default().layout.side_panel_width);
    assert_eq!(Settings { recent: Vec::new(), layout: Default::default(), ..kept }, Settings::default());
    let orange = |[r, g, b]: [i32; 3]| r > 200 && (130..210).contains(&g) && b < 90;
    let warned = shot.fraction(0.3, 0.985, 0.85, 1.0, orange);
    let Some(plain) = screenshot(&[], &tmp.path().join("plain.png")) else { return };
    let quiet = plain.fraction(0.3, 0.985, 0.85, 1.0, orange);
    eprintln!("orange in the status bar: {warned:.4} with the notice, {quiet:.4} without");
    assert!(warned > 0.01 && quiet < 0.001, "{warned} {quiet}");
}

/// The bundled plan's MR fused in the slices as a colour overlay: the head in the slice views
/// takes the hot map's orange and yellow over the grey CT (a quarter of the slice column in a run
/// on 2026-11-30; under 0.4% with the plan's scan alone, its yellow nerves and red vessels).
#[test]
fn the_fused_mr_shows_over_the_ct_as_a_colour_overlay() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("TWINPLAN_SCREENSHOT_SHOW", "T1 MR"), ("TWINPLAN_SCREENSHOT_FUSION", "colour overlay")];
    let Some(shot) = screenshot_with(&[], &env, &tmp.path().join("fused.png")) else {
        return;
    };
    let hot = shot.fraction(0.72, 0.05, 0.99, 0.95, |[r, g, b]| r > 120 && r - b > 50 && g - b > 30);
    assert!(hot > 0.1, "hot overlay pixels in the slices: {hot:.3}");
}
