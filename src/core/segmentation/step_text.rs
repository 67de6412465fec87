//! A one-line text form of a segmentation step, for the command line and scripts:
//! `threshold:bone`, `threshold:300:3000`, `grow:150:500@12.5,-30,40`, `keep-largest`,
//! `keep-island@x,y,z`, `remove-small:50`, `dilate:1.5`, `erode:1`, `open:1`, `close:2`,
//! `fill-holes`, `margin:3`, `hollow:2`, `brush:x,y,z:r`, `erase:x,y,z:r`, `import:FILE:LABEL`,
//! `vessels:contrast=150:threshold=0.1@x,y,z`, `trace:1.5@x,y,z@x,y,z`, `import-tracts:FILE:1`.
//! Points are LPS millimetres; ranges are in the scan's units (HU for CT).

use std::path::PathBuf;

use nalgebra::Point3;

use super::{Connectivity, Preset, Step};
use crate::core::vessels::{Polarity, TreeSettings};

/// The accepted forms, for error messages and `--help`.
pub const STEP_SYNTAX: &str = "threshold:bone|skin|vessels|soft, threshold:LO:HI, grow:LO:HI@X,Y,Z[@X,Y,Z...], \
keep-largest, keep-island@X,Y,Z[@...], remove-small:MM3, dilate:MM, erode:MM, open:MM, close:MM, fill-holes, \
margin:MM, hollow:MM, brush:X,Y,Z:RADIUS, erase:X,Y,Z:RADIUS, import:FILE:LABEL, \
vessels[:scales=MM/MM/..][:contrast=V][:threshold=0-1][:min-radius=MM][:bone=HU|off][:dark]@X,Y,Z[@...], \
trace:RADIUS@X,Y,Z@X,Y,Z[@...], import-tracts:FILE.tck|FILE.trk[:RADIUS] (points in LPS mm)";

impl Step {
    /// Parses the text form; the error says what was expected.
    pub fn parse(text: &str, connectivity: Connectivity) -> Result<Step, String> {
        let bad = |why: &str| format!("step '{text}': {why} (expected one of: {STEP_SYNTAX})");
        let (head, seeds) = match text.split_once('@') {
            Some((h, rest)) => {
                (h, Some(rest.split('@').map(point).collect::<Result<Vec<_>, _>>().map_err(|e| bad(&e))?))
            }
            None => (text, None),
        };
        let mut parts = head.split(':');
        let tool = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let value = |s: &str| -> Result<f64, String> {
            s.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad(&format!("'{s}' is not a number")))
        };
        let size = |s: &str| -> Result<f64, String> {
            let v = value(s)?;
            if v > 0.0 { Ok(v) } else { Err(bad("the size must be above zero")) }
        };
        let field = |i: usize| args.get(i).copied().ok_or_else(|| bad("a number is missing"));
        let number = |i: usize| value(field(i)?);
        let positive = |i: usize| size(field(i)?);
        let arity = |n: usize| -> Result<(), String> {
            if args.len() == n { Ok(()) } else { Err(bad(&format!("takes {n} value(s) after the name"))) }
        };
        let need_seeds = |want: bool| -> Result<Vec<Point3<f64>>, String> {
            match (&seeds, want) {
                (Some(s), true) => Ok(s.clone()),
                (None, true) => Err(bad("needs at least one seed point: @X,Y,Z")),
                (Some(_), false) => Err(bad("takes no seed points")),
                (None, false) => Ok(Vec::new()),
            }
        };
        let step = match tool {
            "threshold" => {
                need_seeds(false)?;
                if args.len() == 1 {
                    let preset = match args[0] {
                        "bone" => Preset::Bone,
                        "skin" => Preset::Skin,
                        "vessels" => Preset::ContrastVessels,
                        "soft" => Preset::SoftTissue,
                        other => return Err(bad(&format!("no preset '{other}'"))),
                    };
                    let (lo, hi) = preset.range_hu();
                    Step::Threshold { lo, hi, scan: None }
                } else {
                    arity(2)?;
                    let (lo, hi) = (number(0)?, number(1)?);
                    if lo > hi {
                        return Err(bad("the lower bound is above the upper one"));
                    }
                    Step::Threshold { lo, hi, scan: None }
                }
            }
            "grow" => {
                arity(2)?;
                let (lo, hi) = (number(0)?, number(1)?);
                if lo > hi {
                    return Err(bad("the lower bound is above the upper one"));
                }
                Step::Grow { seeds_mm: need_seeds(true)?, lo, hi, connectivity, scan: None }
            }
            "keep-largest" => {
                arity(0)?;
                need_seeds(false)?;
                Step::KeepLargest { connectivity }
            }
            "keep-island" => {
                arity(0)?;
                Step::KeepIslands { seeds_mm: need_seeds(true)?, connectivity }
            }
            "remove-small" => {
                arity(1)?;
                need_seeds(false)?;
                Step::RemoveSmallIslands { min_mm3: positive(0)?, connectivity }
            }
            "dilate" | "erode" | "open" | "close" | "margin" | "hollow" => {
                arity(1)?;
                need_seeds(false)?;
                let mm = positive(0)?;
                match tool {
                    "dilate" => Step::Dilate { mm },
                    "erode" => Step::Erode { mm },
                    "open" => Step::Open { mm },
                    "close" => Step::Close { mm },
                    "margin" => Step::Shell { mm, outside: true },
                    _ => Step::Shell { mm, outside: false },
                }
            }
            "fill-holes" => {
                arity(0)?;
                need_seeds(false)?;
                Step::FillHoles
            }
            "brush" | "erase" => {
                arity(2)?;
                need_seeds(false)?;
                Step::Brush {
                    centre_mm: point(args[0]).map_err(|e| bad(&e))?,
                    radius_mm: positive(1)?,
                    erase: tool == "erase",
                }
            }
            "import" => {
                need_seeds(false)?;
                // The file name may itself contain ':' (a Windows drive); the label is the last field.
                let (file, label) =
                    head["import:".len().min(head.len())..].rsplit_once(':').ok_or_else(|| bad("needs FILE:LABEL"))?;
                let label =
                    label.trim().parse::<u32>().map_err(|_| bad(&format!("'{label}' is not a label number")))?;
                if file.is_empty() {
                    return Err(bad("the file name is empty"));
                }
                Step::Import { file: PathBuf::from(file), label }
            }
            "import-tracts" => {
                need_seeds(false)?;
                // As for import: the file name may hold ':'; a last field that is a number is the
                // radius (1 mm when absent).
                let rest = &head["import-tracts:".len().min(head.len())..];
                let (file, radius_mm) = match rest.rsplit_once(':') {
                    Some((file, r)) if r.trim().parse::<f64>().is_ok() => (file, size(r)?),
                    _ => (rest, 1.0),
                };
                if file.is_empty() {
                    return Err(bad("the file name is empty"));
                }
                Step::ImportTracts { file: PathBuf::from(file), radius_mm }
            }
            "vessels" => {
                let mut settings = TreeSettings::contrast_ct();
                for option in &args {
                    let (key, given) = option.split_once('=').unwrap_or((option, ""));
                    match key {
                        "scales" => {
                            settings.scales_mm = given.split('/').map(value).collect::<Result<_, _>>()?;
                        }
                        "contrast" => settings.contrast = value(given)?,
                        "threshold" => settings.threshold = value(given)?,
                        "min-radius" => settings.min_radius_mm = value(given)?,
                        "bone" if given == "off" => settings.bone_above = None,
                        "bone" => settings.bone_above = Some(value(given)?),
                        "dark" if given.is_empty() => {
                            settings.polarity = Polarity::Dark;
                            // Dark vessels are on MR, where there is no bone level to take.
                            settings.bone_above = None;
                        }
                        _ => return Err(bad(&format!("no vessels option '{option}'"))),
                    }
                }
                settings.check().map_err(|e| bad(&e))?;
                Step::Vessels { seeds_mm: need_seeds(true)?, settings, scan: None }
            }
            "trace" => {
                arity(1)?;
                let points_mm = need_seeds(true)?;
                if points_mm.len() < 2 {
                    return Err(bad("a nerve needs at least two points"));
                }
                Step::Trace { points_mm, radius_mm: positive(0)?, scan: None }
            }
            _ => return Err(bad(&format!("no tool '{tool}'"))),
        };
        Ok(step)
    }
}

/// `X,Y,Z` (LPS mm), as steps and the command line write points.
pub fn point(s: &str) -> Result<Point3<f64>, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|c| c.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("'{s}' is not a point X,Y,Z"))?;
    match v.as_slice() {
        [x, y, z] if v.iter().all(|c| c.is_finite()) => Ok(Point3::new(*x, *y, *z)),
        _ => Err(format!("'{s}' is not a point X,Y,Z")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Connectivity = Connectivity::TwentySix;

    #[test]
    fn every_form_parses_to_its_step() {
        assert_eq!(Step::parse("threshold:bone", C), Ok(Step::Threshold { lo: 250.0, hi: 3071.0, scan: None }));
        assert_eq!(Step::parse("threshold:-100:40.5", C), Ok(Step::Threshold { lo: -100.0, hi: 40.5, scan: None }));
        assert_eq!(
            Step::parse("grow:150:500@1,2,3@-4.5,5,6", C),
            Ok(Step::Grow {
                seeds_mm: vec![Point3::new(1.0, 2.0, 3.0), Point3::new(-4.5, 5.0, 6.0)],
                lo: 150.0,
                hi: 500.0,
                connectivity: C,
                scan: None
            })
        );
        assert_eq!(
            Step::parse("keep-island@0,0,0", Connectivity::Six),
            Ok(Step::KeepIslands { seeds_mm: vec![Point3::origin()], connectivity: Connectivity::Six })
        );
        assert_eq!(Step::parse("remove-small:50", C), Ok(Step::RemoveSmallIslands { min_mm3: 50.0, connectivity: C }));
        assert_eq!(Step::parse("margin:3", C), Ok(Step::Shell { mm: 3.0, outside: true }));
        assert_eq!(Step::parse("hollow:2", C), Ok(Step::Shell { mm: 2.0, outside: false }));
        assert_eq!(
            Step::parse("erase:1,2,3:4", C),
            Ok(Step::Brush { centre_mm: Point3::new(1.0, 2.0, 3.0), radius_mm: 4.0, erase: true })
        );
        assert_eq!(
            Step::parse("import:C:/scans/l.nii.gz:7", C),
            Ok(Step::Import { file: PathBuf::from("C:/scans/l.nii.gz"), label: 7 })
        );
        assert_eq!(Step::parse("fill-holes", C), Ok(Step::FillHoles));
        assert_eq!(
            Step::parse("vessels:contrast=150:threshold=0.1:scales=2/4/8:min-radius=5:bone=400@1,2,3", C),
            Ok(Step::Vessels {
                seeds_mm: vec![Point3::new(1.0, 2.0, 3.0)],
                settings: TreeSettings {
                    scales_mm: vec![2.0, 4.0, 8.0],
                    polarity: Polarity::Bright,
                    contrast: 150.0,
                    threshold: 0.1,
                    min_radius_mm: 5.0,
                    bone_above: Some(400.0)
                },
                scan: None
            })
        );
        let Ok(Step::Vessels { settings, .. }) = Step::parse("vessels:dark@0,0,0", C) else { panic!() };
        assert_eq!(
            Step::parse("import-tracts:C:/dti/cst.tck:2", C),
            Ok(Step::ImportTracts { file: PathBuf::from("C:/dti/cst.tck"), radius_mm: 2.0 })
        );
        assert_eq!(
            Step::parse("import-tracts:af.trk", C),
            Ok(Step::ImportTracts { file: PathBuf::from("af.trk"), radius_mm: 1.0 })
        );
        assert_eq!((settings.polarity, settings.bone_above), (Polarity::Dark, None));
        assert_eq!(
            Step::parse("trace:1.5@0,0,0@10,0,0", C),
            Ok(Step::Trace {
                points_mm: vec![Point3::origin(), Point3::new(10.0, 0.0, 0.0)],
                radius_mm: 1.5,
                scan: None
            })
        );
    }

    #[test]
    fn mistakes_say_what_was_expected() {
        for (text, says) in [
            ("threshold:300:100", "lower bound is above"),
            ("threshold:bones", "no preset 'bones'"),
            ("grow:100:200", "needs at least one seed"),
            ("dilate:-1", "above zero"),
            ("dilate:x", "'x' is not a number"),
            ("close", "takes 1 value"),
            ("keep-island@1,2", "is not a point"),
            ("blur:2", "no tool 'blur'"),
            ("fill-holes@1,2,3", "takes no seed points"),
            ("vessels:threshold=2@0,0,0", "between 0 and 1"),
            ("vessels:width=3@0,0,0", "no vessels option 'width=3'"),
            ("vessels", "needs at least one seed"),
            ("trace:1@0,0,0", "at least two points"),
        ] {
            let e = Step::parse(text, C).unwrap_err();
            assert!(e.contains(says) && e.contains(text), "{text}: {e}");
        }
    }
}
