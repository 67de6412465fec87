//! The command line as scripts use it: output keys, exit codes, files written.

mod common;

use common::{data, pdf_text, reference, twinplan};

#[test]
fn info_json_lists_series_geometry_warnings_and_skipped_files() {
    let dir = data("ct-head-phantom");
    let (code, out, err) = twinplan(&["info", dir.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &j["series"][0];
    for key in [
        "series_uid",
        "modality",
        "dims",
        "spacing_mm",
        "patient_from_voxel",
        "slice_count",
        "warnings",
        "transfer_syntaxes",
        "value_range",
    ] {
        assert!(!s[key].is_null(), "missing {key}");
    }
    assert_eq!(s["dims"], serde_json::json!([512, 512, 140]));
    assert_eq!(s["slice_count"], 140);
    assert_eq!(s["modality"], "CT");
    let m = &s["patient_from_voxel"];
    assert_eq!(m.as_array().unwrap().len(), 4);
    assert!((m[2][2].as_f64().unwrap() - 1.0).abs() < 1e-9, "row-major: the z step is m[2][2]");
    assert!((m[0][0].as_f64().unwrap() - 0.451171875).abs() < 1e-9);
    let skipped = j["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["path"].as_str().unwrap().ends_with("DIRFILE") && !s["reason"].as_str().unwrap().is_empty())
    );
}

#[test]
fn info_text_names_what_it_found() {
    let (code, out, _) = twinplan(&["info", data("mr-sagittal").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("dims 256 x 256 x 192"), "{out}");
    assert!(out.contains("origin (LPS)") && out.contains("RAS"), "{out}");
}

#[test]
fn exit_codes_distinguish_input_problems_from_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = twinplan(&["info", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "an empty folder is an input problem");
    assert!(err.contains("no DICOM image found") && err.contains(&tmp.path().display().to_string()), "{err}");
    let (code, _, err) = twinplan(&["info", data("pydicom/badVR.dcm").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("badVR.dcm") && err.contains("NumberOfFrames"), "{err}");
    let (code, _, _) = twinplan(&["info"]);
    assert_eq!(code, 2, "a missing argument is a usage error");
    let (code, _, _) = twinplan(&["no-such-command"]);
    assert_eq!(code, 2);
    // The cause is said once: an error that carries it in its message is not also its source.
    let missing = tmp.path().join("gone.twinplan.json");
    let (code, _, err) = twinplan(&["check", missing.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("gone.twinplan.json: cannot read"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// The NIfTI written for the oblique MR carries the RAS affine that SimpleITK's LPS geometry
/// implies: RAS = diag(-1, -1, 1) * LPS.
#[test]
fn export_volume_writes_the_ras_affine_simpleitk_implies() {
    let r = reference();
    let sitk = r["series"].as_array().unwrap().iter().find(|s| s["folder"] == "mr-sagittal").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mr.nii.gz");
    let (code, stdout, err) =
        twinplan(&["export-volume", data("mr-sagittal").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("256 x 256 x 192"), "{stdout}");
    let header = nifti::NiftiHeader::from_file(&out).unwrap();
    assert_eq!(&header.dim[..4], &[3, 256, 256, 192]);
    assert_eq!(header.sform_code, 1);
    let srow = [header.srow_x, header.srow_y, header.srow_z];
    let f = |v: &serde_json::Value, i: usize| v[i].as_f64().unwrap();
    for row in 0..3 {
        let flip = if row < 2 { -1.0 } else { 1.0 };
        for col in 0..3 {
            let expected = flip * f(&sitk["direction_row_major"], 3 * row + col) * f(&sitk["spacing_mm"], col);
            assert!(
                (srow[row][col] as f64 - expected).abs() < 1e-4,
                "srow[{row}][{col}] = {} vs {expected}",
                srow[row][col]
            );
        }
        let expected = flip * f(&sitk["origin_mm"], row);
        assert!((srow[row][3] as f64 - expected).abs() < 1e-3, "translation {row}");
    }
    assert_eq!(header.qform_code, 1, "an unsheared grid also gets a qform");

    let (code, _, err) = twinplan(&[
        "export-volume",
        data("mr-sagittal").to_str().unwrap(),
        "--out",
        tmp.path().join("x.png").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains(".nii"), "{err}");
}

#[test]
fn phantom_command_writes_series_and_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = twinplan(&["phantom", "--out", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for f in ["dicom/CT0001.dcm", "dicom/CT0150.dcm", "truth_labels.nii.gz", "truth.json", "README.md"] {
        assert!(tmp.path().join(f).is_file(), "{f}");
    }
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("truth.json")).unwrap()).unwrap();
    let categories: Vec<&str> =
        truth["structures"].as_array().unwrap().iter().map(|s| s["category"].as_str().unwrap()).collect();
    for c in ["skin", "bone", "brain", "ventricle", "target", "vessel", "nerve"] {
        assert!(categories.contains(&c), "{c}");
    }
}

/// `twinplan frame` on the phantom's head in a Leksell frame, as `twinplan phantom --framed`
/// writes it (DICOM): the fitted frame_from_patient against the truth it writes beside it.
#[test]
fn frame_finds_the_leksell_localiser_in_a_dicom_series_and_refuses_a_scan_without_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = twinplan(&["phantom", "--out", tmp.path().to_str().unwrap(), "--framed"]);
    assert_eq!(code, 0, "{err}");
    let dicom = tmp.path().join("dicom");
    let (code, out, err) = twinplan(&["frame", dicom.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let found: serde_json::Value = serde_json::from_str(&out).unwrap();
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("truth.json")).unwrap()).unwrap();
    let got: Vec<f64> = found["frame_from_patient"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let want: Vec<f64> = truth["frame_from_patient"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().clone())
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(got.len(), 16);
    let rotation =
        (0..3).flat_map(|r| (0..3).map(move |c| 4 * r + c)).map(|i| (got[i] - want[i]).abs()).fold(0.0, f64::max);
    let shift = [3, 7, 11].iter().map(|&i| (got[i] - want[i]).abs()).fold(0.0, f64::max);
    eprintln!("frame: rotation entries within {rotation:.2e}, translation within {shift:.3} mm");
    assert!(rotation < 1e-3 && shift < 0.3, "{got:?} against {want:?}");
    assert!(found["residual_mm"]["mean"].as_f64().unwrap() < 0.2);
    assert!(found["fiducials"].as_u64().unwrap() >= 450 && found["slices_used"].as_array().unwrap().len() >= 50);
    let residuals = found["fiducial_residuals"].as_array().unwrap();
    assert_eq!(residuals.len() as u64, found["fiducials"].as_u64().unwrap());
    let max = residuals.iter().map(|r| r["residual_mm"].as_f64().unwrap()).fold(0.0, f64::max);
    assert_eq!(max, found["residual_mm"]["max"].as_f64().unwrap());

    // The plan on it: the frame fitted and recorded, AC-PC marked; check gives the target's frame
    // and AC-PC coordinates and the arc settings.
    let plan = tmp.path().join("framed.twinplan.json");
    let (code, _, err) = twinplan(&["plan", "frame", plan.to_str().unwrap(), "--slices", "40-5"]);
    assert!(code != 0 && err.contains("the first not after the last"), "{err}");
    // Leaving out slices (as for artefacts) is recorded with the frame.
    let (code, _, err) = twinplan(&["plan", "frame", plan.to_str().unwrap(), "--slices", "2-60"]);
    assert_eq!(code, 0, "{err}");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["frame"]["slices"], serde_json::json!([2, 60]));
    common::validate(&common::project("assets/schema/plan.schema.json"), &plan).unwrap();
    let p = |key: &str| -> [f64; 3] {
        let v = &truth["acpc"][key];
        std::array::from_fn(|i| v[i].as_f64().unwrap())
    };
    let text = |v: [f64; 3]| format!("{},{},{}", v[0], v[1], v[2]);
    let (ac, pc, mid) = (p("ac_mm"), p("pc_mm"), p("midline_mm"));
    let (code, _, err) = twinplan(&[
        "plan",
        "acpc",
        plan.to_str().unwrap(),
        "--ac",
        &text(ac),
        "--pc",
        &text(pc),
        "--midline",
        &text(mid),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = twinplan(&["check", plan.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let checked: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &checked["trajectories"][0];
    let three = |v: &serde_json::Value| -> [f64; 3] { std::array::from_fn(|i| v[i].as_f64().unwrap()) };
    let (target, entry) = (three(&t["frame"]["target_mm"]), three(&t["frame"]["entry_mm"]));
    let (want_target, want_entry) = (three(&truth["target_frame_mm"]), three(&truth["entry_frame_mm"]));
    let off =
        (0..3).map(|i| (target[i] - want_target[i]).abs().max((entry[i] - want_entry[i]).abs())).fold(0.0, f64::max);
    eprintln!("frame coordinates of the biopsy: target {target:?}, within {off:.3} mm of the truth");
    assert!(off < 0.3, "{target:?} / {want_target:?}");
    // Ring and arc on the right mounting from the truth's frame points: arc = acos(-u_x),
    // ring = atan2(-u_z, u_y) for u the unit vector from target to entry.
    let d: Vec<f64> = (0..3).map(|i| want_entry[i] - want_target[i]).collect();
    let length = d.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (arc, ring) = ((-d[0] / length).acos().to_degrees(), (-d[2]).atan2(d[1]).to_degrees());
    let right = t["frame"]["arcs"].as_array().unwrap().iter().find(|a| a["mounting"] == "right").unwrap();
    assert!((right["arc_deg"].as_f64().unwrap() - arc).abs() < 0.1, "{right} against arc {arc}");
    assert!((right["ring_deg"].as_f64().unwrap() - ring).abs() < 0.1, "{right} against ring {ring}");
    assert!(t["frame"]["residual_mm"]["max"].as_f64().unwrap() < 0.2 && t["frame"]["target_inside"] == true);
    // AC-PC: the phantom's head is straight, so x is to the right (-L), y anterior (-P), z up,
    // from the mid-commissural point.
    let target_lps = three(&truth["target_mm"]);
    let mcp: Vec<f64> = (0..3).map(|i| (ac[i] + pc[i]) / 2.0).collect();
    let want = [-(target_lps[0] - mcp[0]), -(target_lps[1] - mcp[1]), target_lps[2] - mcp[2]];
    let got = three(&t["acpc"]["target_mm"]);
    assert!((0..3).all(|i| (got[i] - want[i]).abs() < 1e-6), "{got:?} against {want:?}");
    assert_eq!(t["acpc"]["acpc_length_mm"].as_f64().unwrap(), 25.0);
    // A label pinned from the command line goes into the export as a Slicer point list.
    let (code, _, err) =
        twinplan(&["plan", "annotate", plan.to_str().unwrap(), "--at", "20,-30,45", "--text", "Tumour"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = twinplan(&["plan", "annotate", plan.to_str().unwrap(), "--at", "20,-30,45", "--text", " "]);
    assert_eq!(code, 1);
    assert!(err.contains("a label needs some text"), "{err}");
    // The export's CSV carries the same frame coordinates and settings.
    let out_dir = tmp.path().join("export");
    let (code, _, err) = twinplan(&["export", plan.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let points = out_dir.join("annotations.mrk.json");
    let schema = common::data_dir().join("slicer-markups/markups-schema-v1.0.3.json");
    assert_eq!(common::validate(&schema, &points), Ok(()));
    let markup: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&points).unwrap()).unwrap();
    let point = &markup["markups"][0]["controlPoints"][0];
    assert_eq!(
        (point["label"].as_str(), point["position"].clone()),
        (Some("Tumour"), serde_json::json!([20.0, -30.0, 45.0]))
    );
    let csv = std::fs::read_to_string(out_dir.join("trajectories.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    // The name ("Biopsy, left frontal") is quoted: split after it.
    let line = lines.next().unwrap();
    let rest = line.strip_prefix('"').and_then(|l| l.split_once("\",")).map_or(line, |(_, r)| r);
    let row: Vec<&str> = std::iter::once("name").chain(rest.split(',')).collect();
    let cell =
        |name: &str| row[header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name} in {header:?}"))];
    assert!((cell("target_frame_x_mm").parse::<f64>().unwrap() - target[0]).abs() < 1e-3);
    assert!((cell("right_mount_arc_deg").parse::<f64>().unwrap() - arc).abs() < 0.01);
    assert_eq!(cell("left_mount_reachable"), "true");
    assert!((cell("target_acpc_z_mm").parse::<f64>().unwrap() - want[2]).abs() < 1e-3);
    // The report prints them large, with the arc settings and the residual.
    let pdf = tmp.path().join("report.pdf");
    let (code, _, err) = twinplan(&["report", plan.to_str().unwrap(), "--out", pdf.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let text = common::pdf_text(&pdf);
    let headline = format!("Leksell target X {:.1} Y {:.1} Z {:.1} mm", target[0], target[1], target[2]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&headline), "{headline} not in {flat}");
    assert!(flat.contains(&format!("Arc on the patient's right: ring {ring:.1} deg, arc {arc:.1} deg")), "{flat}");
    assert!(flat.contains("residual mean 0.0") && flat.contains("AC-PC target: x"), "{flat}");
    let (code, _, err) =
        twinplan(&["plan", "acpc", plan.to_str().unwrap(), "--ac", "0,0,0", "--pc", "0,0,0", "--midline", "0,0,9"]);
    assert_eq!(code, 1);
    assert!(err.contains("AC and PC are the same point"), "{err}");

    // The phantom without a frame: refused, naming what was looked for and found.
    let (code, _, err) = twinplan(&["frame", common::project("sample_scans/phantom/dicom").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no slice shows two") && err.contains("dots above 400"), "{err}");
    let (code, _, err) = twinplan(&["frame", dicom.to_str().unwrap(), "--localizer", "crw"]);
    assert_eq!(code, 1);
    assert!(err.contains("neither a preset (leksell-g-ct)"), "{err}");
}

fn read_binary_stl(path: &std::path::Path) -> (String, Vec<[f32; 3]>) {
    let b = std::fs::read(path).unwrap();
    let header = String::from_utf8_lossy(&b[..80]).trim().to_owned();
    let n = u32::from_le_bytes(b[80..84].try_into().unwrap()) as usize;
    assert_eq!(b.len(), 84 + 50 * n);
    let mut pts = Vec::new();
    for t in 0..n {
        for v in 0..3 {
            let o = 84 + 50 * t + 12 + 12 * v;
            pts.push(std::array::from_fn(|a| f32::from_le_bytes(b[o + 4 * a..o + 4 * a + 4].try_into().unwrap())));
        }
    }
    (header, pts)
}

#[test]
fn mesh_from_the_phantoms_label_map_in_lps_and_ras() {
    let phantom = common::project("sample_scans/phantom");
    let tmp = tempfile::tempdir().unwrap();
    let dicom = phantom.join("dicom");
    let labels = phantom.join("truth_labels.nii.gz");
    let lps = tmp.path().join("tumour.stl");
    let (code, out, err) = twinplan(&[
        "mesh",
        dicom.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--label",
        "5",
        "--out",
        lps.to_str().unwrap(),
        "--smooth",
        "10",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["triangles", "vertices", "area_mm2", "volume_mm3", "components", "watertight"] {
        assert!(!j[key].is_null(), "missing {key}");
    }
    assert_eq!(j["components"], 1);
    assert_eq!(j["watertight"], true);
    // The tumour is a sphere of radius 11 mm.
    let sphere = 4.0 / 3.0 * std::f64::consts::PI * 11f64.powi(3);
    let vol = j["volume_mm3"].as_f64().unwrap();
    assert!((vol / sphere - 1.0).abs() < 0.03, "{vol} vs {sphere}");
    let (header, lps_pts) = read_binary_stl(&lps);
    assert!(header.contains("frame LPS"), "{header}");

    let ras = tmp.path().join("tumour_ras.stl");
    let (code, _, err) = twinplan(&[
        "mesh",
        dicom.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--label",
        "5",
        "--out",
        ras.to_str().unwrap(),
        "--smooth",
        "10",
        "--ras",
    ]);
    assert_eq!(code, 0, "{err}");
    let (header, ras_pts) = read_binary_stl(&ras);
    assert!(header.contains("frame RAS"), "{header}");
    // RAS = (-L, -P, S), vertex for vertex; the centre is the truth's centre in RAS.
    assert_eq!(lps_pts.len(), ras_pts.len());
    for (a, b) in lps_pts.iter().zip(&ras_pts) {
        assert!((a[0] + b[0]).abs() < 1e-4 && (a[1] + b[1]).abs() < 1e-4 && (a[2] - b[2]).abs() < 1e-4);
    }
    let centre: [f64; 3] =
        std::array::from_fn(|a| ras_pts.iter().map(|p| p[a] as f64).sum::<f64>() / ras_pts.len() as f64);
    let truth = [-30.0, 35.0, 60.0]; // LPS (30, -35, 60) = tumour centre; RAS negates x and y
    for a in 0..3 {
        assert!((centre[a] - truth[a]).abs() < 0.5, "centre {centre:?}");
    }
}

#[test]
fn mesh_iso_surface_writes_obj_and_ply_with_their_frame() {
    let dicom = common::project("sample_scans/phantom/dicom");
    let tmp = tempfile::tempdir().unwrap();
    for (name, marker) in [
        ("skull.obj", "# twinplan, frame LPS (mm): iso 250 HU"),
        ("skull.ply", "comment twinplan, frame LPS (mm): iso 250 HU"),
    ] {
        let out = tmp.path().join(name);
        let (code, stdout, err) = twinplan(&[
            "mesh",
            dicom.to_str().unwrap(),
            "--iso",
            "250",
            "--out",
            out.to_str().unwrap(),
            "--decimate",
            "0.5",
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("decimated from"), "{stdout}");
        let head = std::fs::read(&out).unwrap();
        let text = String::from_utf8_lossy(&head[..200.min(head.len())]).into_owned();
        assert!(text.contains(marker), "{name}: {text}");
    }
}

#[test]
fn mesh_input_problems_are_explained() {
    let dicom = common::project("sample_scans/phantom/dicom");
    let labels = common::project("sample_scans/phantom/truth_labels.nii.gz");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.stl");
    let (code, _, err) = twinplan(&["mesh", dicom.to_str().unwrap(), "--iso", "5000", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("outside the data range") && err.contains("-1024"), "{err}");
    assert!(!out.exists());
    let (code, _, err) = twinplan(&[
        "mesh",
        dicom.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--label",
        "42",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("label 42 is absent") && err.contains("truth_labels.nii.gz"), "{err}");
    let (code, _, _) = twinplan(&["mesh", dicom.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "neither --iso nor --labels is a usage error");
    let (code, _, err) = twinplan(&[
        "mesh",
        dicom.to_str().unwrap(),
        "--iso",
        "100",
        "--out",
        tmp.path().join("x.vtk").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains(".stl, .obj or .ply"), "{err}");
}

#[test]
fn segment_writes_a_label_map_that_matches_the_phantoms_skull() {
    use twinplan::core::segmentation::import_labels;
    let phantom = common::project("sample_scans/phantom");
    let dicom = phantom.join("dicom");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("skull.nii.gz");
    let (code, stdout, err) = twinplan(&[
        "segment",
        dicom.to_str().unwrap(),
        "--step",
        "threshold:bone",
        "--step",
        "keep-largest",
        "--name",
        "Skull",
        "--category",
        "bone",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["category"], "bone");
    assert_eq!(j["components"], 1);
    assert_eq!(j["steps"][0]["tool"], "threshold");
    assert_eq!(j["steps"][1]["tool"], "keep_largest");
    // The written map, read back onto the scan's grid, against the truth skull (label 2).
    let (_, loaded) = twinplan::core::dicom::open_volume(&dicom, None, &Default::default()).unwrap();
    let grid = &loaded.volume.grid;
    let (written, warnings) = import_labels(&out, grid).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let (truth, _) = import_labels(&phantom.join("truth_labels.nii.gz"), grid).unwrap();
    let dice = written.mask(1).dice(&truth.mask(2));
    assert!(dice >= 0.95, "skull Dice {dice:.4}");
    assert_eq!(j["voxels"].as_u64().unwrap() as usize, written.count(1));
}

#[test]
fn segment_mistakes_are_explained_before_loading() {
    let dicom = common::project("sample_scans/phantom/dicom");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.nii.gz");
    let run = |steps: &[&str], out: &std::path::Path| {
        let mut args = vec!["segment", dicom.to_str().unwrap(), "--out", out.to_str().unwrap()];
        for s in steps {
            args.extend(["--step", s]);
        }
        twinplan(&args)
    };
    let (code, _, err) = run(&["threshold:bone", "dilate:-2"], &out);
    assert_eq!(code, 1);
    assert!(err.contains("step 'dilate:-2'") && err.contains("above zero"), "{err}");
    let (code, _, err) = run(&["grow:150:500@0,0,9999"], &out);
    assert_eq!(code, 1);
    assert!(err.contains("outside the scan"), "{err}");
    let (code, _, err) = run(&["threshold:5000:6000"], &out);
    assert_eq!(code, 1);
    assert!(err.contains("select no voxel"), "{err}");
    let (code, _, err) = run(&["threshold:bone"], &tmp.path().join("x.stl"));
    assert_eq!(code, 1);
    assert!(err.contains("x.stl") && err.contains(".nii.gz"), "{err}");
    assert!(!out.exists());
}

#[test]
fn segment_takes_a_nifti_name_in_any_case_as_export_volume_does() {
    let dicom = common::project("sample_scans/phantom/dicom");
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &std::path::Path| {
        twinplan(&["segment", dicom.to_str().unwrap(), "--step", "threshold:bone", "--out", out.to_str().unwrap()])
    };
    // Compressed or not, in either case: each written under its own name and nothing else left
    // (plain `.nii` once came out as a hidden `.out.nii.nii` and an error).
    for (name, gz) in [("OUT.NII.GZ", true), ("out.nii", false), ("OUT.NII", false), ("a.b.nii.gz", true)] {
        let out = tmp.path().join(name);
        let (code, _, err) = run(&out);
        assert_eq!(code, 0, "{name}: {err}");
        let written: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(out.is_file() && written.len() == 1, "{name} not written alone; the folder has {written:?}");
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), gz, "{name}: compressed {}", !gz);
        let labels = twinplan::core::io::nifti::read(&out).unwrap();
        assert_eq!(labels.grid.dims, [176, 216, 150], "{name}");
        std::fs::remove_file(&out).unwrap();
    }
    let other = tmp.path().join("OUT.NRRD");
    let (code, _, err) = run(&other);
    assert_eq!(code, 1);
    assert!(err.contains("OUT.NRRD") && err.contains(".nii or .nii.gz"), "{err}");
    assert!(!other.exists());
}

#[test]
fn check_reports_every_trajectory_of_the_bundled_plan() {
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let (code, out, err) = twinplan(&["check", plan.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &j["trajectories"][0];
    assert_eq!(t["name"], "Biopsy, left frontal");
    assert!(t["length_mm"].as_f64().unwrap() > 20.0);
    assert!(t["entry_angle_deg"].as_f64().unwrap() < 30.0);
    let names: Vec<&str> = t["structures"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for want in ["Arteries", "Superior sagittal sinus", "Optic nerves"] {
        assert!(names.contains(&want), "{names:?}");
    }
    for s in t["structures"].as_array().unwrap() {
        let figure = s["min_clearance_mm"].as_f64().unwrap();
        assert!(figure > 2.0, "{s}");
        // The band above the figure: at least half the phantom's largest step (1.25 mm), and the
        // figure is at most the clearances to the surface shown and to the labelled cells.
        assert!(s["uncertainty_mm"].as_f64().unwrap() >= 0.625, "{s}");
        assert!(
            figure <= s["surface_clearance_mm"].as_f64().unwrap()
                && figure <= s["cells_clearance_mm"].as_f64().unwrap()
        );
        assert!(s["depth_mm"].as_f64().is_some());
        assert_eq!(s["verdict"], "clear");
    }
    let (code, text, err) = twinplan(&["check", plan.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("Biopsy, left frontal") && text.contains("CLEAR") && text.contains("Optic nerves"), "{text}");
    // A path into an artery is a finding, not an input problem: exit code 0.
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::project("sample_scans/phantom/truth.json")).unwrap())
            .unwrap();
    let artery = truth["structures"].as_array().unwrap().iter().find(|s| s["name"] == "Arteries").unwrap();
    let inside = &artery["geometry"]["segments"][0]["from"];
    let dir = tempfile::tempdir().unwrap();
    let (moved, _) = common::phantom_with_moved_scan(dir.path(), "dicom");
    let mut j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&moved).unwrap()).unwrap();
    j["trajectories"][0]["target_mm"] = inside.clone();
    std::fs::write(&moved, j.to_string()).unwrap();
    let (code, text, err) = twinplan(&["check", moved.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("COLLISION"), "{text}");
    let (code, _, err) = twinplan(&["check", "/nonexistent/plan.twinplan.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/plan.twinplan.json"), "{err}");
}

#[test]
fn search_proposes_entries_that_check_clear() {
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let plan = plan.to_str().unwrap();
    let (code, out, err) = twinplan(&["search", plan, "--max-angle", "25", "--count", "3", "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &j["search"];
    assert_eq!(j["trajectory"], "Biopsy, left frontal");
    assert!(s["scored"].as_u64().unwrap() >= 10_000, "{}", s["scored"]);
    let suggestions = s["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 3);
    for g in suggestions {
        let r = &g["report"];
        assert_eq!(r["verdict"], "clear");
        assert!(r["entry_angle_deg"].as_f64().unwrap() <= 25.0);
        assert!(r["risk"].as_f64().is_some() && g["entry_mm"].as_array().unwrap().len() == 3);
    }
    let (code, text, err) = twinplan(&["search", plan, "--region", "60,-20,90:15"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("Biopsy, left frontal") && text.contains(" 1. entry ("), "{text}");
    let (code, _, err) = twinplan(&["search", plan, "--trajectory", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no trajectory named 'nope'") && err.contains("Biopsy, left frontal"), "{err}");
    let (code, _, err) = twinplan(&["search", plan, "--region", "1,2:5"]);
    assert_eq!(code, 1);
    assert!(err.contains("expected X,Y,Z:R"), "{err}");
}

/// Exported trajectories are 3D Slicer line markups that validate against Slicer's own schema
/// (`../shared/data/slicer-markups/`), with the plan's points in the frame asked for; the CSV
/// and the meshes and label map are there and read back.
#[test]
fn export_writes_slicer_markups_that_validate_csv_meshes_and_labels() {
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let schema = common::data_dir().join("slicer-markups/markups-schema-v1.0.3.json");
    let doc = twinplan::core::document::io::read(&plan).unwrap();
    let t = &doc.trajectories[0];
    for (flag, sign) in [(None, 1.0), (Some("--ras"), -1.0)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        let mut args = vec!["export", plan.to_str().unwrap(), "--out", out];
        args.extend(flag);
        let (code, text, err) = twinplan(&args);
        assert_eq!(code, 0, "{err}");
        assert!(text.contains("16 files") && dir.path().join("scans/1_T1_MR.nii.gz").is_file(), "{text}");
        let markup: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("Biopsy__left_frontal.mrk.json")).unwrap())
                .unwrap();
        let file = dir.path().join("Biopsy__left_frontal.mrk.json");
        assert_eq!(common::validate(&schema, &file), Ok(()));
        let line = &markup["markups"][0];
        assert_eq!(line["type"], "Line");
        assert_eq!(line["name"], t.name);
        assert_eq!(line["coordinateSystem"], if flag.is_some() { "RAS" } else { "LPS" });
        for (k, p) in [t.entry_mm, t.target_mm].iter().enumerate() {
            let got: Vec<f64> =
                line["controlPoints"][k]["position"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            assert_eq!(got, vec![p[0] * sign, p[1] * sign, p[2]]);
        }
        // Something that is not a markup does fail the schema (the check can fail).
        let mut broken = markup.clone();
        broken["markups"][0]["type"] = "Spline".into();
        let broken_file = dir.path().join("broken.mrk.json");
        std::fs::write(&broken_file, broken.to_string()).unwrap();
        assert!(common::validate(&schema, &broken_file).unwrap_err().contains("Spline"));

        let csv = std::fs::read_to_string(dir.path().join("trajectories.csv")).unwrap();
        let row = csv.lines().nth(1).unwrap();
        assert!(row.starts_with("\"Biopsy, left frontal\",biopsy needle,1.8,"), "{row}");
        let stl = dir.path().join("meshes/6_Arteries.stl");
        let (_, vertices) = read_binary_stl(&stl);
        assert!(vertices.len() > 1000);
        let labels = twinplan::core::io::nifti::read(&dir.path().join("labels.nii.gz")).unwrap();
        assert!(labels.values.contains(&6.0));
        // The arteries' centreline trees as Slicer curves (valid markups) and a CSV of the same
        // points with their radii.
        let curves_file = dir.path().join("centrelines/6_Arteries.mrk.json");
        assert_eq!(common::validate(&schema, &curves_file), Ok(()));
        let curves: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&curves_file).unwrap()).unwrap();
        let branches = curves["markups"].as_array().unwrap();
        assert!(branches.len() >= 6 && branches.iter().all(|b| b["type"] == "Curve"), "{} branches", branches.len());
        let points: usize = branches.iter().map(|b| b["controlPoints"].as_array().unwrap().len()).sum();
        let table = std::fs::read_to_string(dir.path().join("centrelines/6_Arteries.csv")).unwrap();
        assert!(table.starts_with("branch,parent,point,x_lps_mm"), "{table}");
        assert_eq!(table.lines().count(), 1 + points);
        let first: Vec<f64> = branches[0]["controlPoints"][0]["position"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let row: Vec<f64> =
            table.lines().nth(1).unwrap().split(',').skip(3).take(3).map(|v| v.parse().unwrap()).collect();
        for a in 0..3 {
            let lps = if a < 2 { first[a] * sign } else { first[a] };
            assert!((lps - row[a]).abs() < 1e-3, "{first:?} vs {row:?}");
        }
    }
}

/// A plan whose scan has moved: opening it says which scan is missing and how to point to it;
/// with `--scan` it opens from the new folder, but only if that folder holds the plan's series.
#[test]
fn a_plan_whose_scan_moved_says_so_and_opens_from_the_new_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, moved) = common::phantom_with_moved_scan(dir.path(), "moved scan");
    let plan = plan.to_str().unwrap();
    let (code, _, err) = twinplan(&["check", plan]);
    assert_eq!(code, 1);
    assert!(
        err.contains("phantom.twinplan.json") && err.contains("2.25.148885601513398175299803906516818148049"),
        "{err}"
    );
    assert!(err.contains("is not at") && err.contains("--scan DIR"), "{err}");
    let (code, out, err) = twinplan(&["check", plan, "--scan", moved.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Biopsy, left frontal") && out.contains("CLEAR"), "{out}");
    // Another patient's scan is refused, by its series UID.
    let other = common::data("ct-head-phantom");
    let (code, _, err) = twinplan(&["check", plan, "--scan", other.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not the plan's series 2.25.148885601513398175299803906516818148049"), "{err}");
}

/// The report of the bundled plan as PDF: its text (read back by poppler's pdftotext) has the
/// trajectory, its coordinates in LPS and RAS, the clearances and verdicts, the structures'
/// volumes and the notice; its pages (rendered by pdftoppm) carry pictures, not blank space;
/// anonymised, the patient's name and ID are nowhere in the file. The HTML report says the same.
#[test]
fn report_pdf_has_the_plan_in_real_text_and_pictures_and_anonymises() {
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("plan.pdf");
    let (code, out, err) = twinplan(&["report", plan.to_str().unwrap(), "--out", pdf.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 trajectories"), "{out}");
    let text = pdf_text(&pdf);
    for want in [
        "Surgical plan report",
        "Phantom Head",
        "TWINPLAN-PHANTOM-1",
        "Trajectory: Biopsy, left frontal",
        "Verdict: CLEAR",
        "LPS (56.4, -52.6, 77.6) mm",
        "RAS (-56.4, 52.6, 77.6) mm",
        "LPS (30.0, -35.0, 60.0) mm",
        "RAS (-30.0, 35.0, 60.0) mm",
        "Arteries",
        "17.49 mm, -0/+1.52 mm",
        "clear",
        "Research software, not a medical device; not for clinical decisions.",
        "T1 MR, registered by mutual information",
        "Along the path on T1 MR, as fused",
    ] {
        assert!(text.contains(want), "'{want}' is not in the report's text:\n{text}");
    }
    // The tumour's volume against the truth's sphere (radius 11 mm: 5.58 mL), within voxelisation.
    let line = text.lines().find(|l| l.trim_start().starts_with("Tumour")).expect("the tumour's row");
    let ml: f64 = line.split_whitespace().find_map(|w| w.parse().ok()).expect("a volume");
    assert!((ml - 4.0 / 3.0 * std::f64::consts::PI * 11f64.powi(3) / 1000.0).abs() < 0.3, "{line}");

    // The pages as pictures: the trajectory page holds the scan pictures (many grey levels),
    // the first page text only.
    let prefix = dir.path().join("page");
    let status = std::process::Command::new("pdftoppm")
        .args(["-r", "50", "-png"])
        .arg(&pdf)
        .arg(&prefix)
        .status()
        .expect("pdftoppm (poppler-utils)");
    assert!(status.success());
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 3, "{pages:?}");
    let tones = |p: &std::path::Path| {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let px = &buf[..info.buffer_size()];
        let dark = px.chunks(3).filter(|c| c.iter().all(|&v| v < 40)).count() as f64 / (px.len() / 3) as f64;
        let distinct = px.chunks(3).map(|c| (c[0], c[1], c[2])).collect::<std::collections::HashSet<_>>().len();
        (dark, distinct)
    };
    let (dark, distinct) = tones(&pages[1]);
    assert!(dark > 0.03 && distinct > 500, "the trajectory page has no pictures: {dark:.3} dark, {distinct} colours");
    // The 3D overview and the probe's-eye view, rendered without a window.
    let (dark, distinct) = tones(&pages[2]);
    assert!(dark > 0.03 && distinct > 500, "the 3D page has no pictures: {dark:.3} dark, {distinct} colours");
    let (dark, _) = tones(&pages[0]);
    assert!(dark < 0.03, "the first page is text: {dark:.3} dark");

    // Anonymised: no name or ID anywhere in the file (text streams are not compressed).
    let anon = dir.path().join("anon.pdf");
    let (code, _, err) = twinplan(&["report", plan.to_str().unwrap(), "--out", anon.to_str().unwrap(), "--anonymise"]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&anon).unwrap();
    let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(has("Biopsy, left frontal"), "the check can find text in the file's bytes");
    // The fused MR's study date, series UID and description too; it goes by its number.
    for secret in [
        "Phantom Head",
        "TWINPLAN-PHANTOM-1",
        "2.25.148885601513398175299803906516818148049",
        "20260101",
        "20260102",
        "2.25.121367433778615823413076889523322424790",
        "T1 after gadolinium",
    ] {
        assert!(!has(secret), "{secret} is in the anonymised report");
        assert!(!pdf_text(&anon).contains(secret));
    }
    let anon_text = pdf_text(&anon);
    assert!(anon_text.contains("Patient: anonymised") && anon_text.contains("Along the path on fused scan 1"));

    // A fused scan that cannot be found leaves its picture out with a warning; the report is
    // written.
    let elsewhere = tempfile::tempdir().unwrap();
    let bundled = common::project("sample_scans/phantom");
    common::copy_files(&bundled, elsewhere.path());
    let copy = elsewhere.path().join("phantom.twinplan.json");
    let lost = dir.path().join("lost.pdf");
    let dicom = bundled.join("dicom");
    let args = ["report", copy.to_str().unwrap(), "--out", lost.to_str().unwrap(), "--scan", dicom.to_str().unwrap()];
    let (code, _, err) = twinplan(&args);
    assert_eq!(code, 0, "{err}");
    let lost_text = pdf_text(&lost);
    assert!(lost_text.contains("fused scan 'T1 MR'") && !lost_text.contains("Along the path on T1 MR"), "{lost_text}");

    let html = dir.path().join("plan.html");
    let (code, _, err) = twinplan(&["report", plan.to_str().unwrap(), "--out", html.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Biopsy, left frontal")
            && page.contains("17.49 mm, -0/+1.52 mm")
            && page.contains("data:image/png;base64,")
    );
    let (code, _, err) = twinplan(&["report", plan.to_str().unwrap(), "--out", "/tmp/x.docx"]);
    assert_eq!(code, 1);
    assert!(err.contains("expected a report name ending in .pdf, .html or .dcm"), "{err}");
}

/// One byte changed in the RLE test file (the last segment's data) made dicom-rs's RLE codec
/// index past its buffer and panic; twinplan's own RLE decoder finds the segment too short. That
/// is the file's decode error: named, exit code 1, and no panic report on the terminal.
#[test]
fn a_malformed_rle_stream_fails_its_file_quietly() {
    let mut bytes = std::fs::read(data("transfer-syntaxes/4.dcm")).unwrap();
    assert_eq!(bytes[273_228], 0x7f, "the shared file is the one this test was made on");
    bytes[273_228] = 0xfc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rle-panic.dcm");
    std::fs::write(&path, &bytes).unwrap();
    let (code, out, err) = twinplan(&["info", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("rle-panic.dcm: pixel data cannot be decoded") && out.contains("too few bytes"), "{out}");
    assert!(err.contains("rle-panic.dcm") && !err.contains("panicked"), "{err}");
}

#[test]
fn register_recovers_a_known_motion_between_dicom_and_nifti_and_refuses_another_patient() {
    use common::pairs;
    use twinplan::core::dicom;
    use twinplan::core::progress::Progress;
    let ct_dir = data("ct-head-phantom");
    let ct = dicom::open_volume(&ct_dir, None, &Progress::new()).unwrap().1.volume;
    let recipe = pairs::Recipe {
        spacing_mm: [1.3, 1.3, 2.5],
        tilt_deg: 8.0,
        shift_mm: [-12.0, 6.0, 9.0],
        angles_deg: [4.0, -6.0, 10.0],
        ..pairs::CT_FAR
    };
    let (truth, grid) = recipe.geometry(&ct);
    let moving = recipe.moving(&ct, &truth, &grid);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pseudo-mr.nii.gz");
    twinplan::core::io::nifti::write_volume(&file, &moving.grid, &moving.data, "pseudo-MR").unwrap();

    let (code, out, err) = twinplan(&["register", ct_dir.to_str().unwrap(), file.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["metric", "iterations", "time_s", "converged", "levels"] {
        assert!(!j[key].is_null(), "missing {key}");
    }
    let m: Vec<f64> = j["fixed_from_moving"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(m.len(), 16);
    assert_eq!(&m[12..], &[0.0, 0.0, 0.0, 1.0], "row-major, the last row is the homogeneous one");
    let found = nalgebra::Matrix4::from_row_slice(&m);
    let points = recipe.points(&ct, &truth, &grid);
    let moving_from_fixed = truth.inverse();
    let worst = points.iter().map(|p| (found.transform_point(&(moving_from_fixed * p)) - p).norm()).fold(0.0, f64::max);
    assert!(worst < 0.5, "the worst target error is {worst:.3} mm over {} points", points.len());

    // Masked to the upper half of the head by a label map on the CT: the same motion; a label
    // that is not in the map is refused with the labels that are.
    let c = nalgebra::center(&ct.grid.bounds_mm().0, &ct.grid.bounds_mm().1);
    let labels: Vec<u16> = (0..ct.data.len())
        .map(|i| u16::from(ct.grid.patient_point(nalgebra::Point3::from(ct.grid.ijk(i).map(|v| v as f64))).z > c.z))
        .collect();
    let mask = dir.path().join("upper.nii.gz");
    twinplan::core::io::nifti::write_labels(&mask, &ct.grid, &labels, "upper half").unwrap();
    let masked = format!("{}:1", mask.display());
    let (code, out, err) =
        twinplan(&["register", ct_dir.to_str().unwrap(), file.to_str().unwrap(), "--fixed-mask", &masked, "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m: Vec<f64> = j["fixed_from_moving"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let found = nalgebra::Matrix4::from_row_slice(&m);
    let upper: Vec<_> = points.iter().filter(|p| p.z > c.z).collect();
    let worst =
        upper.iter().map(|p| (found.transform_point(&(moving_from_fixed * *p)) - *p).norm()).fold(0.0, f64::max);
    assert!(worst < 0.5 && upper.len() > 50, "masked: the worst target error is {worst:.3} mm over {}", upper.len());
    let absent = format!("{}:7", mask.display());
    let (code, _, err) =
        twinplan(&["register", ct_dir.to_str().unwrap(), file.to_str().unwrap(), "--fixed-mask", &absent]);
    assert_eq!(code, 1);
    assert!(err.contains("no voxel of the fixed scan") && err.contains("present"), "{err}");

    let (code, _, err) = twinplan(&["register", ct_dir.to_str().unwrap(), data("mr-sagittal").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("different patients") && err.contains("--allow-other-patient"), "{err}");
}

#[test]
fn plan_add_scan_fuses_a_registered_scan_into_a_copy_of_the_bundled_plan() {
    use common::pairs;
    use twinplan::core::document::io as plan_io;
    let dir = tempfile::tempdir().unwrap();
    let bundled = common::project("sample_scans/phantom");
    let plan = dir.path().join("phantom.twinplan.json");
    common::copy_files(&bundled, dir.path());
    std::fs::create_dir(dir.path().join("mr")).unwrap();
    common::copy_files(&bundled.join("mr"), &dir.path().join("mr"));
    let scan_arg = ["--scan", bundled.join("dicom").to_str().unwrap()].map(str::to_owned);
    let opened =
        plan_io::open_with_scan(&plan, Some(&bundled.join("dicom")), &twinplan::core::progress::Progress::new())
            .unwrap();
    let ct = &opened.loaded.volume;
    let recipe = pairs::Recipe {
        spacing_mm: [1.2, 1.2, 3.0],
        shift_mm: [6.0, -9.0, 4.0],
        angles_deg: [3.0, 5.0, -8.0],
        ..pairs::CT_FAR
    };
    let (truth, grid) = recipe.geometry(ct);
    let moving = recipe.moving(ct, &truth, &grid);
    let mr = dir.path().join("t1.nii.gz");
    twinplan::core::io::nifti::write_volume(&mr, &moving.grid, &moving.data, "T1").unwrap();

    let args = |extra: &[&str]| -> Vec<String> {
        let mut a =
            vec!["plan".to_owned(), "add-scan".into(), plan.to_str().unwrap().into(), mr.to_str().unwrap().into()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(scan_arg.iter().cloned());
        a
    };
    let run = |a: Vec<String>| twinplan(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, _, err) = run(args(&["--register", "--mask", "Cerebellum"]));
    assert_eq!(code, 1);
    assert!(err.contains("--mask Cerebellum: the plan has no such segment") && err.contains("Brain"), "{err}");
    let (code, out, err) = run(args(&["--register", "--mask", "Skull", "--name", "T1 pseudo"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added 'T1 pseudo'") && out.contains("registered by mutual information"), "{out}");
    let (code, _, err) = run(args(&[]));
    assert_eq!(code, 0, "{err}");
    // By landmarks: four points of the plan's scan and where the truth puts them in the added one,
    // one of them 1 mm off (as a click would be).
    let csv = dir.path().join("pairs.csv");
    let mut lines = String::from("# plan X,Y,Z, added X,Y,Z (LPS mm)\n");
    for (n, p) in [[0.0, -15.0, 40.0], [40.0, -15.0, 40.0], [0.0, 30.0, 40.0], [0.0, -15.0, 90.0]].iter().enumerate() {
        let q = truth.inverse() * nalgebra::Point3::from(*p);
        let off = if n == 3 { 1.0 } else { 0.0 };
        lines += &format!("{},{},{},{},{},{}\n", p[0], p[1], p[2], q.x + off, q.y, q.z);
    }
    std::fs::write(&csv, lines).unwrap();
    let (code, out, err) = run(args(&["--landmarks", csv.to_str().unwrap(), "--name", "by points"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fitted to 4 landmark pairs, FRE"), "{out}");
    std::fs::write(&csv, "1,2,3,4,5\n").unwrap();
    let (code, _, err) = run(args(&["--landmarks", csv.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(err.contains("line 1: expected six numbers"), "{err}");

    let schema = common::project("assets/schema/plan.schema.json");
    assert_eq!(common::validate(&schema, &plan), Ok(()));
    let doc = plan_io::read(&plan).unwrap();
    // After the bundled plan's own MR.
    let [_, registered, by_geometry, by_points] = doc.secondary_scans.as_slice() else {
        panic!("{:?}", doc.secondary_scans)
    };
    let twinplan::core::document::Placement::Landmarks { fre_mm, errors_mm } = &by_points.placement else {
        panic!("{:?}", by_points.placement)
    };
    assert!(*fre_mm > 0.1 && *fre_mm < 1.0 && errors_mm.len() == 4, "{fre_mm} {errors_mm:?}");
    assert_eq!(registered.name, "T1 pseudo");
    assert_eq!(registered.scan.path, mr);
    assert!(matches!(registered.placement, twinplan::core::document::Placement::Automatic { .. }));
    assert_eq!(by_geometry.primary_from_secondary, nalgebra::Isometry3::identity());
    let points = recipe.points(ct, &truth, &grid);
    let (mean, max) = pairs::tre_mm(&registered.primary_from_secondary, &truth, &points);
    assert!(mean < 0.2 && max < 0.5, "TRE mean {mean:.3} mm, max {max:.3} mm");
    // The plan still checks as before: its segments and paths did not move.
    let (code, out, err) = twinplan(&["check", plan.to_str().unwrap(), &scan_arg[0], &scan_arg[1], "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Biopsy"), "{out}");
    // The report says which scans are fused and how each was placed.
    let pdf = dir.path().join("report.pdf");
    let (code, _, err) =
        twinplan(&["report", plan.to_str().unwrap(), "--out", pdf.to_str().unwrap(), &scan_arg[0], &scan_arg[1]]);
    assert_eq!(code, 0, "{err}");
    let text = pdf_text(&pdf);
    assert!(
        text.contains("T1 pseudo, registered by mutual information")
            && text.contains("registered by mutual information"),
        "{text}"
    );
    assert!(text.contains("by the scanners' geometry (not registered)"), "{text}");
    // The export writes each fused scan on the plan's grid: the registered one matches the
    // plan's CT seen through the same contrast curve.
    let out_dir = dir.path().join("export");
    let (code, _, err) =
        twinplan(&["export", plan.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), &scan_arg[0], &scan_arg[1]]);
    assert_eq!(code, 0, "{err}");
    let fused = twinplan::core::io::volume_file::read(&out_dir.join("scans/2_T1_pseudo.nii.gz")).unwrap();
    assert!(fused.grid.same_as(&ct.grid, 1e-3), "on the plan's grid");
    assert_eq!(std::fs::read_dir(out_dir.join("scans")).unwrap().count(), 4, "every fused scan is written");
    let curve = pairs::curve(pairs::PSEUDO_MR);
    let (mut sxy, mut sx, mut sy, mut sxx, mut syy, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in (0..ct.data.len()).step_by(7) {
        let p = ct.grid.patient_point(nalgebra::Point3::from(ct.grid.ijk(i).map(|c| c as f64)));
        if grid.voxel_at(&(truth.inverse() * p)).is_none() {
            continue;
        }
        let (x, y) = (f64::from(curve(ct.data.get(i))), f64::from(fused.data.get(i)));
        (sxy, sx, sy, sxx, syy, n) = (sxy + x * y, sx + x, sy + y, sxx + x * x, syy + y * y, n + 1.0);
    }
    let r = (n * sxy - sx * sy) / ((n * sxx - sx * sx).sqrt() * (n * syy - sy * sy).sqrt());
    assert!(r > 0.9, "correlation {r:.3} over {n} voxels");

    let (code, _, err) = twinplan(&[
        "plan",
        "add-scan",
        plan.to_str().unwrap(),
        data("mr-sagittal").to_str().unwrap(),
        &scan_arg[0],
        &scan_arg[1],
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("different patients") && err.contains("--allow-other-patient"), "{err}");
    // The plan's own series is not fused with itself.
    let own = bundled.join("dicom");
    let (code, _, err) =
        twinplan(&["plan", "add-scan", plan.to_str().unwrap(), own.to_str().unwrap(), &scan_arg[0], &scan_arg[1]]);
    assert_eq!(code, 1);
    assert!(err.contains("is the plan's own scan"), "{err}");
    assert_eq!(plan_io::read(&plan).unwrap().secondary_scans.len(), 4, "a refused scan leaves the plan as it was");
}

/// The Khronos glTF validator (npm's gltf-validator, installed by `.ci/install-deps` under
/// `~/.cache/twinplan/npm`, or where TWINPLAN_NPM_PREFIX says) on a file: (errors, warnings).
fn gltf_validate(file: &std::path::Path) -> (u64, u64) {
    let prefix = std::env::var("TWINPLAN_NPM_PREFIX")
        .unwrap_or_else(|_| format!("{}/.cache/twinplan/npm", std::env::var("HOME").unwrap_or_default()));
    let script = "const v = require(process.argv[1] + '/node_modules/gltf-validator');\
        const bytes = new Uint8Array(require('fs').readFileSync(process.argv[2]));\
        v.validateBytes(bytes).then(r => console.log(r.issues.numErrors + ' ' + r.issues.numWarnings + ' ' + \
        JSON.stringify(r.issues.messages.slice(0, 5))));";
    let out =
        std::process::Command::new("node").args(["-e", script, &prefix, file.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "gltf-validator did not run: {}", String::from_utf8_lossy(&out.stderr));
    let mut words = text.split_whitespace();
    let mut next = || words.next().and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("{text}"));
    let counts = (next(), next());
    eprintln!("gltf-validator: {text}");
    counts
}

/// `export --scene`: the bundled plan as binary glTF that the Khronos validator passes with no
/// errors or warnings, its parts named, in metres with +Y up as the README maps LPS, decimated to
/// the limit asked; too small a limit and a plan without surfaces are refused, writing nothing.
#[test]
fn export_scene_writes_a_valid_gltf_in_metres_y_up() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let glb = tmp.path().join("phantom.glb");
    let (code, out, err) =
        twinplan(&["export", plan.to_str().unwrap(), "--scene", glb.to_str().unwrap(), "--max-triangles", "40000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("8 parts"), "{out}");
    assert_eq!(gltf_validate(&glb), (0, 0));
    let bytes = std::fs::read(&glb).unwrap();
    let json_length = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let gltf: serde_json::Value = serde_json::from_slice(&bytes[20..20 + json_length]).unwrap();
    let names: Vec<&str> = gltf["nodes"].as_array().unwrap().iter().filter_map(|n| n["name"].as_str()).collect();
    for want in ["Skull", "Arteries", "Optic nerves", "Trajectory: Biopsy, left frontal"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(!names.contains(&"Brain"), "the hidden brain is left out");
    let triangles: u64 = gltf["accessors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "SCALAR")
        .map(|a| a["count"].as_u64().unwrap() / 3)
        .sum();
    assert!(triangles <= 40000 && triangles > 20000, "{triangles}");
    let scalp = gltf["materials"].as_array().unwrap().iter().find(|m| m["name"] == "Scalp").unwrap();
    assert_eq!(scalp["alphaMode"], "BLEND");
    // The trajectory's tube, target at LPS (30, -35, 60) mm and entry at (56.4, -52.6, 77.6): in
    // glTF, x = L, y = S, z = -P, in metres.
    let mesh = gltf["meshes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["name"] == "Trajectory: Biopsy, left frontal")
        .unwrap();
    let position =
        &gltf["accessors"][gltf["meshes"][mesh]["primitives"][0]["attributes"]["POSITION"].as_u64().unwrap() as usize];
    let (lo, hi): (Vec<f64>, Vec<f64>) =
        (0..3).map(|a| (position["min"][a].as_f64().unwrap(), position["max"][a].as_f64().unwrap())).unzip();
    let (target, entry): ([f64; 3], [f64; 3]) = ([0.030, 0.060, 0.035], [0.0564, 0.0776, 0.0526]);
    for a in 0..3 {
        let (l, h) = (target[a].min(entry[a]), target[a].max(entry[a]));
        assert!(
            (lo[a] - l).abs() < 0.001 && (hi[a] - h).abs() < 0.001,
            "axis {a}: {lo:?}..{hi:?} against {target:?}..{entry:?}"
        );
    }

    let small = tmp.path().join("small.glb");
    let (code, _, err) =
        twinplan(&["export", plan.to_str().unwrap(), "--scene", small.to_str().unwrap(), "--max-triangles", "10"]);
    assert_eq!(code, 1);
    assert!(err.contains("needs at least") && !small.exists(), "{err}");
    let (code, _, err) =
        twinplan(&["export", plan.to_str().unwrap(), "--scene", tmp.path().join("x.gltf").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("expected a name ending in .glb"), "{err}");
    let framed = tmp.path().join("framed");
    assert_eq!(twinplan(&["phantom", "--out", framed.to_str().unwrap(), "--framed"]).0, 0);
    let empty = tmp.path().join("empty.glb");
    let framed_plan = framed.join("framed.twinplan.json");
    let (code, _, err) = twinplan(&["export", framed_plan.to_str().unwrap(), "--scene", empty.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no surfaces to show") && !empty.exists(), "{err}");
}

/// Every pixel of a PNG file as RGB.
fn png_rgb(path: &std::path::Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let rgb = pixels[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    (info.width, info.height, rgb)
}

/// `animate --out F.mp4` and `--out DIR/`: the same turntable as H.264 in MP4 and as 50 numbered
/// PNG images. FFmpeg (Debian's, its own H.264 decoder, not OpenH264) reads the MP4 as 50 frames
/// of H.264 at 25 per second, and every frame it decodes is within a few levels of the PNG image
/// of that frame, and further from the image three frames on: the frames are whole, in order and
/// on time.
#[test]
fn animate_writes_an_mp4_that_ffmpeg_decodes_frame_for_frame_as_the_png_images() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let animate = |out: &std::path::Path| {
        let (code, text, err) = twinplan(&[
            "animate",
            plan.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--seconds",
            "2",
            "--size",
            "160",
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(text.contains("50 frames of 160 x 160 px at 25 frames per second"), "{text}");
    };
    let movie = tmp.path().join("turn.mp4");
    let frames = tmp.path().join("frames");
    animate(&movie);
    animate(&frames.join(""));
    let mut names: Vec<String> =
        std::fs::read_dir(&frames).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 50);
    assert_eq!((names[0].as_str(), names[49].as_str()), ("frame_0000.png", "frame_0049.png"));
    assert!(!tmp.path().join("frames.partial").exists() && !tmp.path().join("turn.mp4.partial").exists());

    let run = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program).args(args).output().expect("ffmpeg (see .ci/install-deps)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let probe = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,avg_frame_rate,nb_read_frames",
            "-of",
            "json",
            movie.to_str().unwrap(),
        ],
    );
    let probe: serde_json::Value = serde_json::from_slice(&probe).unwrap();
    let stream = &probe["streams"][0];
    eprintln!("ffprobe: {stream}");
    assert_eq!(
        (
            &stream["codec_name"],
            &stream["width"],
            &stream["height"],
            &stream["avg_frame_rate"],
            &stream["nb_read_frames"]
        ),
        (&"h264".into(), &160.into(), &160.into(), &"25/1".into(), &"50".into())
    );
    // Converted back to RGB with exact rounding (FFmpeg's fast default darkens by about 2 levels).
    let decoded = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            movie.to_str().unwrap(),
            "-sws_flags",
            "bicubic+accurate_rnd+full_chroma_int",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
    );
    assert_eq!(decoded.len(), 50 * 160 * 160 * 3);
    let images: Vec<Vec<u8>> =
        names.iter().map(|n| png_rgb(&frames.join(n)).2.into_iter().flatten().collect()).collect();
    let mean_difference =
        |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64;
    let (mut worst, mut least_ratio): (f64, f64) = (0.0, f64::INFINITY);
    for (k, frame) in decoded.chunks(160 * 160 * 3).enumerate() {
        let own = mean_difference(frame, &images[k]);
        worst = worst.max(own);
        // Where the picture moves over three frames, the decoded frame is its own image's.
        if let Some(later) = images.get(k + 3) {
            let moved: Vec<usize> = (0..160 * 160)
                .filter(|p| (0..3).any(|c| images[k][3 * p + c].abs_diff(later[3 * p + c]) > 30))
                .collect();
            let on_moved = |image: &[u8]| {
                let pick = |img: &[u8]| moved.iter().flat_map(|p| img[3 * p..3 * p + 3].to_vec()).collect::<Vec<u8>>();
                mean_difference(&pick(frame), &pick(image))
            };
            let (own, later) = (on_moved(&images[k]), on_moved(later));
            least_ratio = least_ratio.min(later / own);
            assert!(moved.len() > 200 && later > 3.0 * own, "frame {k}: {own} from its image, {later} from three on");
        }
    }
    eprintln!(
        "mp4: the worst frame is {worst:.2} levels from its image on average; where the picture moves, the image \
         three frames on is at least {least_ratio:.1} times further"
    );
    assert!(worst < 2.5, "{worst}");
}

/// `animate --views`: from a view showing the head as the plan does to one that records the
/// scalp and skull hidden, seen from the same place: the head's light pixels fade away, fewer at
/// the middle frame and fewer still at the last, and the arteries' red shows. (The opacities
/// frame by frame are checked exactly in `scene::animation`'s unit test.)
#[test]
fn animate_through_saved_views_fades_the_segments_each_view_hides() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(twinplan(&["phantom", "--out", tmp.path().to_str().unwrap()]).0, 0);
    let copy = tmp.path().join("phantom.twinplan.json");
    let mut plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
    let label = |name: &str| {
        plan["segmentation"]["segments"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["label"]
            .as_u64()
            .unwrap()
    };
    let hidden = serde_json::json!({ label("Scalp").to_string(): 0.0, label("Skull").to_string(): 0.0 });
    let view = |opacity: serde_json::Value| {
        serde_json::json!({ "name": "front", "eye_mm": [0.0, -420.0, 60.0], "look_at_mm": [0.0, 0.0, 20.0],
            "crosshair_mm": [0.0, 0.0, 20.0], "opacity": opacity })
    };
    plan["saved_views"] = serde_json::json!([view(serde_json::json!({})), view(hidden)]);
    std::fs::write(&copy, plan.to_string()).unwrap();
    let frames = tmp.path().join("frames");
    let (code, text, err) = twinplan(&[
        "animate",
        copy.to_str().unwrap(),
        "--views",
        "--out",
        frames.join("").to_str().unwrap(),
        "--seconds",
        "1",
        "--size",
        "120",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("25 frames"), "{text}");
    let count = |k: usize, test: &dyn Fn(i32, i32, i32) -> bool| {
        png_rgb(&frames.join(format!("frame_{k:04}.png")))
            .2
            .iter()
            .filter(|p| test(i32::from(p[0]), i32::from(p[1]), i32::from(p[2])))
            .count()
    };
    let light = |r: i32, g: i32, b: i32| r + g + b > 420;
    let red = |r: i32, g: i32, _: i32| r > 150 && r > g + 80;
    let (first, middle, last) = (count(0, &light), count(12, &light), count(24, &light));
    let (red_first, red_last) = (count(0, &red), count(24, &red));
    eprintln!("views: light head pixels {first} -> {middle} -> {last}; red {red_first} -> {red_last}");
    assert!(first > 1000 && middle < first && last < middle && last * 10 < first, "{first} {middle} {last}");
    assert!(red_last > red_first, "{red_first} {red_last}");
}

/// Headless Chromium (Debian's, installed by `.ci/install-deps`) on a page: a screenshot of it,
/// and with `dump` its DOM after the scripts ran.
fn chromium(page: &std::path::Path, dir: &std::path::Path, dump: bool) -> (std::path::PathBuf, String) {
    let shot = dir.join("page.png");
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--enable-unsafe-swiftshader".into(),
        "--use-angle=swiftshader".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        format!("--user-data-dir={}", dir.join("profile").display()),
        "--window-size=1000,800".into(),
        "--virtual-time-budget=15000".into(),
    ];
    args.push(if dump { "--dump-dom".into() } else { format!("--screenshot={}", shot.display()) });
    args.push(format!("file://{}", page.display()));
    let out = std::process::Command::new("chromium").args(&args).output().expect("chromium (see .ci/install-deps)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (shot, String::from_utf8_lossy(&out.stdout).to_string())
}

/// `export --scene F.html`: one file that needs nothing else (no address in it) and that headless
/// Chromium, offline, draws: the arteries red and the tumour green through the see-through head,
/// the legend naming the segments.
#[test]
fn export_scene_html_shows_the_structures_offline_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let page = tmp.path().join("phantom.html");
    let (code, _, err) =
        twinplan(&["export", plan.to_str().unwrap(), "--scene", page.to_str().unwrap(), "--max-triangles", "60000"]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(!text.contains("http://") && !text.contains("https://") && !text.contains(" src="), "nothing to fetch");
    let (_, dom) = chromium(&page, tmp.path(), true);
    assert!(
        dom.contains("(drawn)") && dom.contains("Skull") && dom.contains("Trajectory: Biopsy, left frontal"),
        "{dom}"
    );
    let (shot, _) = chromium(&page, tmp.path(), false);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    // Below the legend (whose swatches are the parts' colours), seen through the scalp and skull:
    // the arteries pinker, the tumour greener than the head around them (about 232, 224, 207).
    let rows = pixels[..info.buffer_size()].chunks(info.line_size).skip(200);
    let count = |test: &dyn Fn(i32, i32, i32) -> bool| {
        rows.clone()
            .flat_map(|row| row.chunks(channels))
            .filter(|p| test(i32::from(p[0]), i32::from(p[1]), i32::from(p[2])))
            .count()
    };
    let red = count(&|r, g, b| r > g + 25 && r > b + 45);
    let green = count(&|r, g, b| g > r + 15 && g > b + 30);
    let head = count(&|r, g, b| r + g + b > 450);
    eprintln!("scene page: {red} red pixels, {green} green, {head} of the light head");
    assert!(red > 2000 && green > 500 && head > 50000, "{red} red, {green} green, {head} head pixels");
}

/// `animate`: a turntable of the bundled plan as a looping GIF (decoded by the `gif` crate): one
/// frame per tenth of a second, the scene turning from one frame to another, the arteries red
/// in front; what it cannot do is refused.
#[test]
fn animate_writes_a_turntable_gif_and_refuses_what_it_cannot_do() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let out = tmp.path().join("turn.gif");
    let (code, text, err) = twinplan(&[
        "animate",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--seconds",
        "1",
        "--size",
        "120",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("10 frames of 120 x 120 px"), "{text}");
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!((decoder.width(), decoder.height()), (120, 120));
    let mut frames = Vec::new();
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert_eq!(frame.delay, 10);
        frames.push(frame.buffer.to_vec());
    }
    assert_eq!(frames.len(), 10);
    let red = |f: &[u8]| f.chunks(4).filter(|p| p[0] > 150 && i32::from(p[0]) > i32::from(p[1]) + 50).count();
    let differ = frames[0].chunks(4).zip(frames[3].chunks(4)).filter(|(a, b)| a != b).count();
    eprintln!("turntable: {} red pixels in the first frame, {differ} pixels changed by the fourth", red(&frames[0]));
    assert!(red(&frames[0]) > 100 && differ > 1000);

    let (code, _, err) = twinplan(&["animate", plan.to_str().unwrap(), "--out", out.to_str().unwrap(), "--views"]);
    assert_eq!(code, 1);
    assert!(err.contains("fewer than two saved views"), "{err}");
    let refused = |out: &std::path::Path, more: &[&str]| {
        let mut args = vec!["animate", plan.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend(more);
        let (code, _, err) = twinplan(&args);
        assert_eq!(code, 1, "{err}");
        err
    };
    assert!(refused(&tmp.path().join("a.webm"), &[]).contains("WebM is not written"));
    let odd = tmp.path().join("odd.mp4");
    assert!(refused(&odd, &["--size", "121"]).contains("an MP4 needs an even frame size") && !odd.exists());
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("notes.txt"), "mine").unwrap();
    assert!(refused(&full, &["--seconds", "0.2", "--size", "32"]).contains("the folder is not empty"));
    assert_eq!(std::fs::read_dir(&full).unwrap().count(), 1, "nothing added to a folder in use");
    let framed = tmp.path().join("framed");
    assert_eq!(twinplan(&["phantom", "--out", framed.to_str().unwrap(), "--framed"]).0, 0);
    let empty = tmp.path().join("empty.gif");
    let (code, _, err) =
        twinplan(&["animate", framed.join("framed.twinplan.json").to_str().unwrap(), "--out", empty.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no surfaces to show") && !empty.exists(), "{err}");
}
