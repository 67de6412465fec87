//! From a heap of slice headers to series with exact geometry: grouping, splitting, sorting along
//! the slice normal, spacing measured from positions, and every irregularity as a warning.

use std::collections::BTreeMap;

use nalgebra::{Matrix4, Vector3};

use super::header::SliceHeader;
use crate::core::volume::Grid;

/// How output slice `k` is made from the sorted source slices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceSource {
    pub lo: usize,
    pub hi: usize,
    /// Weight of `hi`: value = (1 - t) * src[lo] + t * src[hi].
    pub t: f64,
}

impl SliceSource {
    /// The source slice this output slice is, when it is one (to a millionth of a step: the grid
    /// is measured from positions, so it lands on the slices only nearly).
    pub fn exact(&self) -> Option<usize> {
        const SNAP: f64 = 1e-6;
        if self.t <= SNAP {
            Some(self.lo)
        } else if self.t >= 1.0 - SNAP {
            Some(self.hi)
        } else {
            None
        }
    }
}

/// One volume's worth of slices and the geometry they form.
#[derive(Debug, Clone)]
pub struct Series {
    /// The SeriesInstanceUID, with `#n` appended when one UID had to be split into several volumes.
    pub id: String,
    pub series_uid: String,
    /// Source slices sorted along the slice normal (duplicates removed).
    pub slices: Vec<SliceHeader>,
    pub grid: Grid,
    /// `None` when output slice k is source slice k; otherwise how each output slice is
    /// interpolated (missing or unevenly spaced slices).
    pub resample: Option<Vec<SliceSource>>,
    pub warnings: Vec<String>,
    /// A NIfTI or NRRD file standing as a series (its one "slice" names the file): loading
    /// reads the file whole instead of decoding DICOM images.
    pub volume_file: bool,
}

impl Series {
    pub fn first(&self) -> &SliceHeader {
        &self.slices[0]
    }

    /// Images (slices or frames) the series holds: a volume file's slices too.
    pub fn image_count(&self) -> usize {
        if self.volume_file { self.grid.dims[2] } else { self.slices.len() }
    }

    /// Distinct files the series reads.
    pub fn file_count(&self) -> usize {
        let mut paths: Vec<_> = self.slices.iter().map(|s| &s.path).collect();
        paths.sort();
        paths.dedup();
        paths.len()
    }

    pub fn transfer_syntaxes(&self) -> Vec<String> {
        let mut v: Vec<String> = self.slices.iter().map(|s| s.transfer_syntax_name.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

const ORIENTATION_TOL: f64 = 1e-3;

fn close(a: &Vector3<f64>, b: &Vector3<f64>, tol: f64) -> bool {
    (a - b).amax() <= tol
}

/// Images belong to the same volume when they share the series UID, stack, plane size, pixel
/// spacing and orientation.
fn same_stack(a: &SliceHeader, b: &SliceHeader) -> bool {
    let orient = match (a.row_dir, a.col_dir, b.row_dir, b.col_dir) {
        (Some(ar), Some(ac), Some(br), Some(bc)) => {
            close(&ar, &br, ORIENTATION_TOL) && close(&ac, &bc, ORIENTATION_TOL)
        }
        (None, None, None, None) => true,
        _ => false,
    };
    let spacing = match (a.pixel_spacing_mm, b.pixel_spacing_mm) {
        (Some(x), Some(y)) => (0..2).all(|i| (x[i] - y[i]).abs() <= 1e-4 * x[i].abs().max(1.0)),
        (None, None) => true,
        _ => false,
    };
    a.series_uid == b.series_uid
        && a.stack_id == b.stack_id
        && a.dimension == b.dimension
        && a.rows == b.rows
        && a.cols == b.cols
        && orient
        && spacing
}

fn describe(h: &SliceHeader) -> String {
    let plane = match (h.row_dir, h.col_dir) {
        (Some(r), Some(c)) => plane_name(&r.cross(&c)),
        _ => "unknown orientation",
    };
    match &h.dimension {
        Some(d) => format!("{} x {} {plane}, {d}", h.cols, h.rows),
        None => format!("{} x {} {}", h.cols, h.rows, plane),
    }
}

/// The anatomical plane a slice normal is closest to.
pub fn plane_name(normal: &Vector3<f64>) -> &'static str {
    let a = normal.abs();
    if a.z >= a.x && a.z >= a.y {
        "axial"
    } else if a.y >= a.x {
        "coronal"
    } else {
        "sagittal"
    }
}

/// Groups headers into series, splitting a UID that mixes geometries, and builds each one.
pub fn build_series(headers: Vec<SliceHeader>) -> Vec<Series> {
    // Group by UID first (BTreeMap: a stable order for reports and tests).
    let mut by_uid: BTreeMap<String, Vec<SliceHeader>> = BTreeMap::new();
    for h in headers {
        by_uid.entry(h.series_uid.clone()).or_default().push(h);
    }
    let mut out = Vec::new();
    for (uid, hs) in by_uid {
        let mut stacks: Vec<Vec<SliceHeader>> = Vec::new();
        for h in hs {
            match stacks.iter_mut().find(|s| same_stack(&s[0], &h)) {
                Some(s) => s.push(h),
                None => stacks.push(vec![h]),
            }
        }
        // Several volumes inside one stack (echoes, phases) show up as repeated positions.
        let stacks: Vec<Vec<SliceHeader>> = stacks.into_iter().flat_map(split_repeated_acquisitions).collect();
        let mixed = if stacks.len() > 1 {
            let kinds: Vec<String> =
                stacks.iter().map(|s| format!("{} ({} images)", describe(&s[0]), s.len())).collect();
            Some(format!(
                "series {uid} mixes {} image stacks: {}; it was split into separate volumes",
                stacks.len(),
                kinds.join(", ")
            ))
        } else {
            None
        };
        let mut parts: Vec<(Vec<SliceHeader>, Vec<String>)> = stacks.into_iter().flat_map(split_at_gaps).collect();
        let n = parts.len();
        // Largest stack first: that is what a user opening "the series" expects.
        parts.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        for (i, (stack, gaps)) in parts.into_iter().enumerate() {
            let id = if n > 1 { format!("{uid}#{}", i + 1) } else { uid.clone() };
            let mut s = build_one(id, uid.clone(), stack);
            let no_uid = uid.is_empty().then(|| {
                "no SeriesInstanceUID: images without one are grouped by their geometry alone, so images of different series may be mixed in this volume".to_string()
            });
            let which = s.first().dimension.as_ref().map(|d| format!("this volume holds the images with {d}"));
            s.warnings.splice(0..0, no_uid.into_iter().chain(mixed.iter().cloned()).chain(which).chain(gaps));
            out.push(s);
        }
    }
    out
}

/// Position of a slice along the normal.
fn along(h: &SliceHeader, normal: &Vector3<f64>) -> Option<f64> {
    h.position_mm.map(|p| p.dot(normal))
}

/// Splits a stack whose positions repeat into one stack per echo / temporal position /
/// acquisition, when that key makes every position unique. Otherwise returns it unchanged.
fn split_repeated_acquisitions(stack: Vec<SliceHeader>) -> Vec<Vec<SliceHeader>> {
    let Some(normal) = stack_normal(&stack[0]) else {
        return vec![stack];
    };
    let distinct = |hs: &[&SliceHeader]| {
        let mut d: Vec<i64> =
            hs.iter().filter_map(|h| along(h, &normal)).map(|x| (x * 1000.0).round() as i64).collect();
        let n = d.len();
        d.sort_unstable();
        d.dedup();
        d.len() == n
    };
    if distinct(&stack.iter().collect::<Vec<_>>()) {
        return vec![stack];
    }
    type Key = fn(&SliceHeader) -> Option<i32>;
    let keys: [Key; 3] = [|h| h.echo_number, |h| h.temporal_position, |h| h.acquisition_number];
    for key in keys {
        let mut groups: BTreeMap<Option<i32>, Vec<&SliceHeader>> = BTreeMap::new();
        for h in &stack {
            groups.entry(key(h)).or_default().push(h);
        }
        if groups.len() > 1 && groups.values().all(|g| distinct(g)) {
            return groups.into_values().map(|g| g.into_iter().cloned().collect()).collect();
        }
    }
    vec![stack]
}

/// The most slices in a row a gap may be filled with by interpolation. A wider gap (two table
/// positions under one UID, say) splits the stack into separate volumes instead: inventing
/// anatomy across it would be a picture of nothing that was measured.
const MAX_FILLED_SLICES: f64 = 4.0;

/// Splits a stack at gaps wider than [`MAX_FILLED_SLICES`] missing slices. Each piece comes
/// with a warning for each cut at its ends. A piece's own spacing may be finer than the whole
/// stack's, so pieces are split again until none has such a gap: that bounds every grid the
/// pieces become at (`MAX_FILLED_SLICES` + 1.5) steps per image.
fn split_at_gaps(stack: Vec<SliceHeader>) -> Vec<(Vec<SliceHeader>, Vec<String>)> {
    let mut done = Vec::new();
    let mut todo = vec![(stack, Vec::new())];
    while let Some((mut stack, warnings)) = todo.pop() {
        let Some((normal, median)) = usual_step(&mut stack) else {
            done.push((stack, warnings));
            continue;
        };
        let d: Vec<f64> = stack.iter().map(|h| along(h, &normal).unwrap_or(0.0)).collect();
        let cuts: Vec<usize> = (1..d.len()).filter(|&i| d[i] - d[i - 1] > (MAX_FILLED_SLICES + 1.5) * median).collect();
        if cuts.is_empty() {
            done.push((stack, warnings));
            continue;
        }
        let said: Vec<String> = cuts
            .iter()
            .map(|&i| {
                let gap = d[i] - d[i - 1];
                format!(
                    "a gap of {} between positions {} and {} along the normal (about {:.0} slices missing where the spacing is {}): the series was split there into separate volumes rather than filled",
                    fmt_mm(gap),
                    fmt_mm(d[i - 1]),
                    fmt_mm(d[i]),
                    (gap / median).round() - 1.0,
                    fmt_mm(median)
                )
            })
            .collect();
        // Piece p lies between cut p - 1 and cut p.
        for (p, &at) in cuts.iter().enumerate().rev() {
            let piece = stack.split_off(at);
            let ends = said[p..].iter().take(if p + 1 < cuts.len() { 2 } else { 1 });
            todo.push((piece, warnings.iter().chain(ends).cloned().collect()));
        }
        todo.push((stack, warnings.iter().chain(said.first()).cloned().collect()));
    }
    done
}

/// Sorts a stack along its normal and measures its usual step (the median between distinct
/// positions; duplicates are dealt with later). `None` without orientation or positions.
fn usual_step(stack: &mut [SliceHeader]) -> Option<(Vector3<f64>, f64)> {
    let normal = stack_normal(&stack[0])?;
    if stack.iter().any(|h| h.position_mm.is_none()) {
        return None;
    }
    stack.sort_by(|a, b| along(a, &normal).unwrap_or(0.0).total_cmp(&along(b, &normal).unwrap_or(0.0)));
    let mut steps: Vec<f64> = stack
        .windows(2)
        .map(|w| along(&w[1], &normal).unwrap_or(0.0) - along(&w[0], &normal).unwrap_or(0.0))
        .filter(|g| *g >= 1e-3)
        .collect();
    if steps.is_empty() {
        return None;
    }
    steps.sort_by(f64::total_cmp);
    Some((normal, steps[steps.len() / 2]))
}

fn stack_normal(h: &SliceHeader) -> Option<Vector3<f64>> {
    let n = h.row_dir?.cross(&h.col_dir?);
    (n.norm() > 0.5).then(|| n.normalize())
}

fn fmt_mm(x: f64) -> String {
    format!("{x:.2} mm")
}

/// Slices sorted along `normal` without those that repeat a position already present: the first
/// (lowest InstanceNumber) of each is kept, and the user is told which files were left out.
fn without_repeated_positions(
    slices: Vec<SliceHeader>,
    normal: &Vector3<f64>,
    warnings: &mut Vec<String>,
) -> Vec<SliceHeader> {
    let mut kept: Vec<SliceHeader> = Vec::with_capacity(slices.len());
    let mut dropped = Vec::new();
    for s in slices {
        let dup = kept
            .last()
            .is_some_and(|k| (along(k, normal).unwrap_or(0.0) - along(&s, normal).unwrap_or(0.0)).abs() < 1e-3);
        if dup {
            dropped.push(s);
        } else {
            kept.push(s);
        }
    }
    if !dropped.is_empty() {
        let names: Vec<String> = dropped
            .iter()
            .take(5)
            .map(|d| {
                let file = d.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                if d.frames_in_file > 1 { format!("{file} frame {}", d.frame + 1) } else { file }
            })
            .collect();
        warnings.push(format!(
            "{} image(s) repeat a slice position already present and were left out (first kept by InstanceNumber): {}{}",
            dropped.len(),
            names.join(", "),
            if dropped.len() > 5 { ", ..." } else { "" }
        ));
    }
    kept
}

/// Slices with gaps or uneven steps: the plan that resamples them onto an even grid at the median
/// step (each output slice a linear blend of its two neighbours, `d` their positions along the
/// normal), and warnings that say where and why.
fn even_resampling(
    d: &[f64],
    sorted: &[f64],
    median: f64,
    gaps: &[(usize, f64)],
    worst: Option<(usize, f64)>,
    warnings: &mut Vec<String>,
) -> (Vec<SliceSource>, f64) {
    let n = d.len();
    let extent = d[n - 1] - d[0];
    let out_n = ((extent / median).round() as usize).max(1) + 1;
    let out_step = extent / (out_n - 1) as f64;
    let mut plan = Vec::with_capacity(out_n);
    let mut lo = 0;
    for k in 0..out_n {
        let x = d[0] + k as f64 * out_step;
        while lo + 2 < n && d[lo + 1] <= x {
            lo += 1;
        }
        let hi = (lo + 1).min(n - 1);
        let t = if hi == lo { 0.0 } else { ((x - d[lo]) / (d[hi] - d[lo])).clamp(0.0, 1.0) };
        plan.push(SliceSource { lo, hi, t });
    }
    for (i, g) in gaps {
        let missing = ((g / median).round() as i64 - 1).max(1);
        warnings.push(format!(
            "about {missing} slice(s) missing between slice {} and {} (positions {} and {} along the normal, a {} gap where the spacing is {}): filled by linear interpolation, so anatomy there is not measured",
            i,
            i + 1,
            fmt_mm(d[*i]),
            fmt_mm(d[i + 1]),
            fmt_mm(*g),
            fmt_mm(median)
        ));
    }
    if gaps.is_empty() {
        let (lo_d, hi_d) = (sorted[0], sorted[sorted.len() - 1]);
        let (wi, wdev) = worst.unwrap_or((0, 0.0));
        warnings.push(format!(
            "uneven slice spacing: steps between {} and {} (median {}), the largest deviation from an even grid is {} at slice {wi} (position {}): resampled onto an even {out_step:.4} mm grid by linear interpolation",
            fmt_mm(lo_d),
            fmt_mm(hi_d),
            fmt_mm(median),
            fmt_mm(wdev),
            fmt_mm(d[wi]),
        ));
    }
    (plan, out_step)
}

/// Sorts one stack, measures its spacing, and decides its grid and warnings.
fn build_one(id: String, series_uid: String, mut slices: Vec<SliceHeader>) -> Series {
    let mut warnings = Vec::new();
    let first = slices[0].clone();

    // In-plane axes, orthonormalised (IOP is often written with few decimals).
    let (row_dir, col_dir) = match (first.row_dir, first.col_dir) {
        (Some(r), Some(c)) if r.norm() > 0.5 && c.norm() > 0.5 && r.cross(&c).norm() > 0.5 => {
            let r1 = r.normalize();
            let c1 = (c - r1 * r1.dot(&c)).normalize();
            let dev = (r.norm() - 1.0).abs().max((c.norm() - 1.0).abs()).max(r.dot(&c).abs());
            if dev > 1e-3 {
                warnings.push(format!(
                    "ImageOrientationPatient is not orthonormal (deviation {dev:.4}); it was orthonormalised"
                ));
            }
            (r1, c1)
        }
        _ => {
            warnings.push("no usable ImageOrientationPatient: axial orientation assumed; left/right and the 3D placement are not known".into());
            (Vector3::x(), Vector3::y())
        }
    };
    let normal = row_dir.cross(&col_dir);
    let [row_spacing, col_spacing] = match first.pixel_spacing_mm {
        Some(s) if s[0] > 0.0 && s[1] > 0.0 => {
            if first.pixel_spacing_source != "PixelSpacing" {
                warnings.push(format!(
                    "no PixelSpacing: {} used, which is measured at the detector, not in the patient",
                    first.pixel_spacing_source
                ));
            }
            s
        }
        _ => {
            warnings.push("no usable PixelSpacing: 1 mm pixels assumed; distances and sizes are not true".into());
            [1.0, 1.0]
        }
    };

    let have_positions = slices.iter().all(|s| s.position_mm.is_some());
    if have_positions {
        slices.sort_by(|a, b| {
            let da = along(a, &normal).unwrap_or(0.0);
            let db = along(b, &normal).unwrap_or(0.0);
            da.total_cmp(&db).then(a.instance_number.cmp(&b.instance_number)).then(a.frame.cmp(&b.frame))
        });
    } else {
        slices.sort_by(|a, b| {
            a.instance_number.cmp(&b.instance_number).then(a.path.cmp(&b.path)).then(a.frame.cmp(&b.frame))
        });
        if slices.len() > 1 || slices[0].position_mm.is_none() {
            warnings.push("no ImagePositionPatient on every image: slices ordered by InstanceNumber and placed with nominal spacing; positions in patient space are not known".into());
        }
    }

    if have_positions && slices.len() > 1 {
        slices = without_repeated_positions(slices, &normal, &mut warnings);
    }

    let n = slices.len();
    let origin = slices[0].position_mm.unwrap_or_else(Vector3::zeros);
    let nominal =
        slices[0].spacing_between_slices_mm.or(slices[0].slice_thickness_mm).filter(|s| *s > 0.0).unwrap_or(1.0);

    let mut resample = None;
    let step: Vector3<f64> = if n == 1 || !have_positions {
        normal * nominal
    } else {
        let d: Vec<f64> = slices.iter().map(|s| along(s, &normal).unwrap_or(0.0)).collect();
        let diffs: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
        let mut sorted = diffs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let extent = d[n - 1] - d[0];
        let last = slices[n - 1].position_mm.unwrap_or(origin);
        // Direction of travel per mm along the normal (differs from the normal under gantry tilt).
        let travel = (last - origin) / extent;

        let gaps: Vec<(usize, f64)> =
            diffs.iter().enumerate().filter(|(_, g)| **g > 1.5 * median).map(|(i, g)| (i, *g)).collect();
        let regular_step = extent / (n - 1) as f64;
        let tol = (0.05 * regular_step).max(0.01);
        let worst = d
            .iter()
            .enumerate()
            .map(|(i, x)| (i, (x - (d[0] + i as f64 * regular_step)).abs()))
            .max_by(|a, b| a.1.total_cmp(&b.1));

        if !gaps.is_empty() || worst.is_some_and(|w| w.1 > tol) {
            let (plan, out_step) = even_resampling(&d, &sorted, median, &gaps, worst, &mut warnings);
            resample = Some(plan);
            travel * out_step
        } else {
            // Every slice must lie on the line from the first to the last.
            let off_line = slices
                .iter()
                .enumerate()
                .map(|(i, s)| (s.position_mm.unwrap_or(origin) - (origin + travel * (d[i] - d[0]))).norm())
                .fold(0.0f64, f64::max);
            if off_line > tol.max(0.05) {
                warnings.push(format!(
                    "slice positions do not lie on one line (up to {} off): the volume uses the line from the first to the last slice",
                    fmt_mm(off_line)
                ));
            }
            travel * regular_step
        }
    };

    let lateral = step - normal * step.dot(&normal);
    let tilt_deg = lateral.norm().atan2(step.dot(&normal).abs()).to_degrees();
    if tilt_deg > 0.01 {
        let tag = first.gantry_tilt_deg.map(|g| format!(" (GantryDetectorTilt says {g:.1}°)")).unwrap_or_default();
        warnings.push(format!(
            "gantry tilt of {tilt_deg:.2}°{tag}: slices are sheared against their normal; the volume keeps the true sheared geometry, so positions and distances are exact (the slices are {:.4} mm apart along their normal, {:.4} mm from one slice's first pixel to the next's)",
            step.dot(&normal).abs(),
            step.norm()
        ));
    }

    let out_slices = resample.as_ref().map_or(n, |p| p.len());
    let mut m = Matrix4::identity();
    m.fixed_view_mut::<3, 1>(0, 0).copy_from(&(row_dir * col_spacing));
    m.fixed_view_mut::<3, 1>(0, 1).copy_from(&(col_dir * row_spacing));
    m.fixed_view_mut::<3, 1>(0, 2).copy_from(&step);
    m.fixed_view_mut::<3, 1>(0, 3).copy_from(&origin);
    let grid = Grid::new([first.cols as usize, first.rows as usize, out_slices], m);

    let mut formats: Vec<_> = slices.iter().map(|s| s.format).collect();
    formats.dedup();
    if formats.len() > 1 {
        warnings.push("images differ in bit depth or signedness; each is decoded with its own".into());
    }
    if slices.iter().any(|s| s.format.monochrome1) {
        warnings.push("MONOCHROME1 images: stored values were inverted so that higher values are brighter".into());
    }
    // Files read only after mending: said once per kind of repair, with how many files needed it.
    let mut repairs: BTreeMap<&str, std::collections::BTreeSet<&std::path::Path>> = BTreeMap::new();
    for s in &slices {
        for r in &s.repairs {
            repairs.entry(r).or_default().insert(&s.path);
        }
    }
    for (what, files) in repairs {
        warnings.push(format!("{} file(s) not conformant, read as other readers read them: {what}", files.len()));
    }
    Series { id, series_uid, slices, grid, resample, warnings, volume_file: false }
}

/// Synthetic headers for unit tests elsewhere in the module.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::core::dicom::header::{PixelFormat, Rescale};
    use std::path::PathBuf;

    pub(crate) fn header() -> SliceHeader {
        slice(0, Vector3::zeros())
    }

    pub(crate) fn slice(i: usize, pos: Vector3<f64>) -> SliceHeader {
        SliceHeader {
            path: PathBuf::from(format!("s{i}")),
            frame: 0,
            frames_in_file: 1,
            series_uid: "1.2.3".into(),
            study_uid: String::new(),
            sop_instance_uid: format!("1.2.3.{i}"),
            modality: "CT".into(),
            series_description: String::new(),
            patient_name: String::new(),
            patient_id: String::new(),
            study_date: String::new(),
            transfer_syntax_uid: String::new(),
            transfer_syntax_name: String::new(),
            instance_number: Some(i as i32),
            acquisition_number: None,
            echo_number: None,
            temporal_position: None,
            stack_id: None,
            dimension: None,
            rows: 4,
            cols: 4,
            position_mm: Some(pos),
            row_dir: Some(Vector3::x()),
            col_dir: Some(Vector3::y()),
            pixel_spacing_mm: Some([0.5, 0.5]),
            pixel_spacing_source: "PixelSpacing",
            slice_thickness_mm: Some(5.0),
            spacing_between_slices_mm: None,
            gantry_tilt_deg: None,
            identifying: Default::default(),
            repairs: Vec::new(),
            format: PixelFormat {
                bits_allocated: 16,
                bits_stored: 12,
                high_bit: 11,
                signed: false,
                samples_per_pixel: 1,
                monochrome1: false,
            },
            rescale: Rescale::default(),
            rescale_type: String::new(),
            window: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::slice;
    use super::*;

    #[test]
    fn sorts_by_position_and_measures_spacing_not_thickness() {
        let hs: Vec<_> = [3, 0, 2, 1].iter().map(|&i| slice(i, Vector3::new(0.0, 0.0, 1.25 * i as f64))).collect();
        let s = build_series(hs);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.grid.dims, [4, 4, 4]);
        assert!((s.grid.spacing_mm()[2] - 1.25).abs() < 1e-12);
        assert!(s.resample.is_none());
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.slices.iter().map(|h| h.instance_number.unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_gap_is_reported_and_interpolated() {
        let hs: Vec<_> = [0, 1, 2, 5, 6].iter().map(|&i| slice(i, Vector3::new(0.0, 0.0, i as f64))).collect();
        let s = &build_series(hs)[0];
        assert_eq!(s.grid.dims[2], 7);
        assert!(s.warnings.iter().any(|w| w.contains("missing between slice 2 and 3")), "{:?}", s.warnings);
        let plan = s.resample.as_ref().unwrap();
        assert_eq!(plan[3], SliceSource { lo: 2, hi: 3, t: 1.0 / 3.0 });
        assert_eq!(plan[6], SliceSource { lo: 3, hi: 4, t: 1.0 });
    }

    #[test]
    fn a_wide_gap_splits_the_series_instead_of_being_filled() {
        // Three slices 2 µm apart and one 20 m away: filling would invent ten million slices.
        let z = [0.0, 0.002, 0.004, 20_000.0];
        let hs: Vec<_> = z.iter().enumerate().map(|(i, &z)| slice(i, Vector3::new(0.0, 0.0, z))).collect();
        let s = build_series(hs);
        assert_eq!(s.iter().map(|s| s.grid.dims[2]).collect::<Vec<_>>(), vec![3, 1]);
        assert_eq!(s[0].id, "1.2.3#1");
        assert!(s.iter().all(|s| s.resample.is_none()));
        for v in &s {
            assert!(
                v.warnings[0].contains("a gap of 20000.00 mm between positions 0.00 mm and 20000.00 mm"),
                "{:?}",
                v.warnings
            );
        }
        // Four missing slices are still filled, five are not.
        let at = |zs: &[f64]| zs.iter().enumerate().map(|(i, &z)| slice(i, Vector3::new(0.0, 0.0, z))).collect();
        assert_eq!(build_series(at(&[0.0, 1.0, 2.0, 7.0, 8.0])).len(), 1);
        assert_eq!(build_series(at(&[0.0, 1.0, 2.0, 8.0, 9.0])).len(), 2);
    }

    /// A piece cut from a coarse stack may itself be fine-spaced with wide gaps: it is cut again,
    /// so no grid gets more than a few steps per image (here it would have been 10^9 slices).
    #[test]
    fn pieces_are_split_again_at_their_own_gaps() {
        let mut z: Vec<f64> = (0..7).map(|i| 0.001 * i as f64).collect();
        z.extend([500_000.006, 1_000_000.006]);
        z.extend((0..21).map(|i| 2_000_000.006 + 100_000.0 * i as f64));
        let hs: Vec<_> = z.iter().enumerate().map(|(i, &z)| slice(i, Vector3::new(0.0, 0.0, z))).collect();
        let s = build_series(hs);
        assert_eq!(s.iter().map(|s| s.slices.len()).collect::<Vec<_>>(), vec![21, 7, 1, 1]);
        assert!(
            s.iter().all(|s| s.grid.dims[2] <= 6 * s.slices.len()),
            "{:?}",
            s.iter().map(|s| s.grid.dims).collect::<Vec<_>>()
        );
        assert!(s[1].warnings.iter().any(|w| w.starts_with("a gap of 500000.00 mm")), "{:?}", s[1].warnings);
        assert!(s.iter().all(|s| s.warnings.iter().any(|w| w.contains("split there"))));
    }

    #[test]
    fn images_without_a_series_uid_are_flagged() {
        let hs: Vec<_> = (0..3)
            .map(|i| SliceHeader { series_uid: String::new(), ..slice(i, Vector3::new(0.0, 0.0, i as f64)) })
            .collect();
        let s = &build_series(hs)[0];
        assert!(s.warnings[0].starts_with("no SeriesInstanceUID"), "{:?}", s.warnings);
    }

    #[test]
    fn gantry_tilt_keeps_sheared_geometry() {
        let tilt = 15f64.to_radians();
        let hs: Vec<_> = (0..5).map(|i| slice(i, Vector3::new(0.0, i as f64 * tilt.tan(), i as f64))).collect();
        let s = &build_series(hs)[0];
        assert!((s.grid.shear_deg() - 15.0).abs() < 1e-9);
        let w = s.warnings.iter().find(|w| w.contains("gantry tilt of 15.00°")).expect("tilt warned");
        assert!(w.contains("1.0000 mm apart along their normal, 1.0353 mm from one"), "{w}");
    }

    #[test]
    fn duplicates_and_mixed_sizes() {
        let mut hs: Vec<_> = (0..3).map(|i| slice(i, Vector3::new(0.0, 0.0, i as f64))).collect();
        hs.push(slice(7, Vector3::new(0.0, 0.0, 1.0)));
        let mut localizer = slice(9, Vector3::zeros());
        localizer.rows = 8;
        hs.push(localizer);
        let s = build_series(hs);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].id, "1.2.3#1");
        assert_eq!(s[0].grid.dims[2], 3);
        assert!(s[0].warnings.iter().any(|w| w.contains("repeat a slice position")), "{:?}", s[0].warnings);
        assert!(s[1].warnings[0].contains("mixes 2 image stacks"));
    }

    #[test]
    fn echoes_split_into_volumes() {
        let mut hs = Vec::new();
        for e in 1..=2 {
            for i in 0..3 {
                let mut h = slice(i + 10 * e as usize, Vector3::new(0.0, 0.0, i as f64));
                h.echo_number = Some(e);
                hs.push(h);
            }
        }
        let s = build_series(hs);
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|v| v.grid.dims[2] == 3));
    }
}
