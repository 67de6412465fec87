//! Trajectories for other tools: 3D Slicer line markups (`.mrk.json`, one line per path from
//! entry to target) and a CSV table of their coordinates in LPS and RAS.

use nalgebra::Point3;
use serde_json::json;

use super::Trajectory;
use crate::core::document::Annotation;
use crate::core::mesh::export::Frame;
use crate::core::stereotaxy::PlanFrame;
use crate::core::stereotaxy::acpc::AcPc;
use crate::core::stereotaxy::frame::Mounting;

/// The Slicer markups schema the files follow (Slicer's `markups-schema-v1.0.3.json`).
pub const MARKUPS_SCHEMA: &str = "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#";

/// One trajectory as a Slicer markups file holding one line: entry, then target, in `frame`.
pub fn slicer_line(t: &Trajectory, frame: Frame) -> serde_json::Value {
    let points = [("entry".to_owned(), t.entry_mm), ("target".to_owned(), t.target_mm)];
    json!({
        "@schema": MARKUPS_SCHEMA,
        "markups": [markup("Line", &t.name, t.color, &points, &[("length", t.length_mm())], frame)]
    })
}

/// The plan's labels as one Slicer point list, each point labelled with its text, in `frame`.
pub fn slicer_points(annotations: &[Annotation], frame: Frame) -> serde_json::Value {
    let points: Vec<(String, Point3<f64>)> = annotations.iter().map(|a| (a.text.clone(), a.point_mm)).collect();
    json!({
        "@schema": MARKUPS_SCHEMA,
        "markups": [markup("Fiducial", "Labels", [255, 230, 120], &points, &[], frame)]
    })
}

/// One Slicer markup (`kind`: "Line", "Curve"...) of labelled points in `frame`, locked, with
/// its measurements in mm.
pub fn markup(
    kind: &str,
    name: &str,
    colour: [u8; 3],
    points: &[(String, Point3<f64>)],
    measurements: &[(&str, f64)],
    frame: Frame,
) -> serde_json::Value {
    // The control points' own axes: the patient axes, written in the file's frame.
    let orientation = match frame {
        Frame::Lps => [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0],
        Frame::Ras => [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    };
    let control_points: Vec<serde_json::Value> = points
        .iter()
        .enumerate()
        .map(|(n, (label, p))| {
            json!({
                "id": (n + 1).to_string(),
                "label": label,
                "description": "",
                "associatedNodeID": "",
                "position": frame.point(p),
                "orientation": orientation,
                "selected": true,
                "locked": true,
                "visibility": true,
                "positionStatus": "defined"
            })
        })
        .collect();
    let measurements: Vec<serde_json::Value> = measurements
        .iter()
        .map(|(what, value)| {
            json!({ "name": what, "enabled": true, "value": value, "units": "mm", "printFormat": "%-#4.4g%s" })
        })
        .collect();
    let [r, g, b] = colour.map(|c| f64::from(c) / 255.0);
    json!({
        "type": kind,
        "name": name,
        "coordinateSystem": frame.name(),
        "coordinateUnits": "mm",
        "locked": true,
        "fixedNumberOfControlPoints": true,
        "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": points.len(),
        "controlPoints": control_points,
        "measurements": measurements,
        "display": {
            "visibility": true,
            "opacity": 1.0,
            "color": [r, g, b],
            "selectedColor": [r, g, b],
            "propertiesLabelVisibility": true,
            "pointLabelsVisibility": kind == "Line" || kind == "Fiducial",
            "lineThickness": 0.2,
            "glyphType": "Sphere3D",
            "glyphScale": 1.0
        }
    })
}

/// A file name made from a name (a trajectory's, a segment's): anything but letters, digits,
/// `-` and `_` replaced, so that every name gives a valid one; `fallback` when nothing is left.
pub fn file_stem(name: &str, fallback: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.trim_matches('_').is_empty() { fallback.into() } else { s }
}

/// All trajectories as CSV: name, instrument, diameter and length, then entry and target in LPS,
/// then in RAS (mm); with a frame, the target and entry in frame mm and the Leksell ring and arc
/// on each mounting; with AC-PC landmarks, the target in AC-PC mm. Names are quoted as RFC 4180
/// says.
pub fn csv(paths: &[Trajectory], frame: Option<&PlanFrame>, acpc: Option<&AcPc>) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    };
    let mut header = vec!["name".to_owned(), "instrument".into(), "diameter_mm".into(), "length_mm".into()];
    for frame in ["lps", "ras"] {
        for end in ["entry", "target"] {
            header.extend(["x", "y", "z"].map(|axis| format!("{end}_{frame}_{axis}_mm")));
        }
    }
    let leksell = frame.is_some_and(|f| f.frame == "Leksell");
    if frame.is_some() {
        for end in ["target", "entry"] {
            header.extend(["x", "y", "z"].map(|axis| format!("{end}_frame_{axis}_mm")));
        }
    }
    if leksell {
        for side in ["right", "left"] {
            header.extend(["ring_deg", "arc_deg", "reachable"].map(|what| format!("{side}_mount_{what}")));
        }
    }
    if acpc.is_some() {
        header.extend(["x", "y", "z"].map(|axis| format!("target_acpc_{axis}_mm")));
    }
    let mut out = header.join(",") + "\n";
    for t in paths {
        let mut row = vec![
            quote(&t.name),
            quote(t.instrument.kind.name()),
            format!("{}", t.instrument.diameter_mm),
            format!("{:.4}", t.length_mm()),
        ];
        for frame in [Frame::Lps, Frame::Ras] {
            for p in [t.entry_mm, t.target_mm] {
                row.extend(frame.point(&p).iter().map(|c| format!("{c:.4}")));
            }
        }
        if let Some(f) = frame {
            let ft = f.trajectory(t);
            row.extend(ft.target_mm.iter().chain(&ft.entry_mm).map(|c| format!("{c:.4}")));
            if leksell {
                for side in [Mounting::Right, Mounting::Left] {
                    match ft.arcs.iter().find(|a| a.mounting == side) {
                        Some(a) => row.extend([
                            format!("{:.2}", a.ring_deg),
                            format!("{:.2}", a.arc_deg),
                            a.reachable.to_string(),
                        ]),
                        None => row.extend([String::new(), String::new(), String::new()]),
                    }
                }
            }
        }
        if let Some(a) = acpc {
            match a.acpc_from_patient(&t.target_mm) {
                Ok(c) => row.extend(c.iter().map(|v| format!("{v:.4}"))),
                Err(_) => row.extend([String::new(), String::new(), String::new()]),
            }
        }
        out += &row.join(",");
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::planning::{Instrument, InstrumentKind};

    #[test]
    fn names_become_safe_file_names_and_csv_quotes_commas() {
        let t = Trajectory::new(
            "Biopsy, left \"frontal\"/2",
            Point3::new(1.0, 2.0, 3.0),
            Point3::new(4.0, 6.0, 3.0),
            Instrument::preset(InstrumentKind::BiopsyNeedle),
        );
        assert_eq!(file_stem(&t.name, "trajectory"), "Biopsy__left__frontal__2");
        assert_eq!(file_stem("//", "trajectory"), "trajectory");
        let text = csv(std::slice::from_ref(&t), None, None);
        let row = text.lines().nth(1).unwrap();
        assert!(row.starts_with("\"Biopsy, left \"\"frontal\"\"/2\",biopsy needle,1.8,5.0000,1.0000,2.0000,3.0000,4.0000,6.0000,3.0000,-1.0000,-2.0000,3.0000,-4.0000,-6.0000,3.0000"), "{row}");
    }
}
