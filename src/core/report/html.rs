//! The report as one self-contained HTML file (pictures inlined as PNG).

use std::fmt::Write;

use super::{Report, point_text};
use crate::core::mesh::export::Frame;
use crate::core::planning::{CLEARANCE_NOTE, Verdict};

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn render(r: &Report) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Surgical plan report</title><style>\
         body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}table{border-collapse:collapse}\
         td,th{padding:2px 10px;text-align:left}th{border-bottom:1px solid #888}figure{display:inline-block;margin:4px}\
         figcaption{font-size:80%}footer{margin-top:3em;font-size:80%;color:#555}.frame{font-size:140%}",
    );
    // The verdicts' classes, in the colours the PDF prints them in.
    for v in [Verdict::Clear, Verdict::Warning, Verdict::Collision] {
        let [r, g, b] = v.print_rgb();
        let _ = write!(h, ".{}{{color:#{r:02x}{g:02x}{b:02x}}}", v.name());
    }
    h.push_str("</style></head><body>\n");
    let _ = writeln!(h, "<h1>Surgical plan report</h1>");
    let _ = match &r.patient {
        Some((name, id)) => writeln!(h, "<p>Patient: {} &nbsp; ID: {}</p>", esc(name), esc(id)),
        None => writeln!(h, "<p>Patient: anonymised</p>"),
    };
    let _ = writeln!(h, "<h2>Scan</h2><table>");
    for (k, v) in &r.scan {
        let _ = writeln!(h, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(v));
    }
    let _ = writeln!(
        h,
        "</table><h2>Structures</h2><table><tr><th>Name</th><th>Category</th><th>Volume</th><th>Critical</th><th>Margin</th></tr>"
    );
    for s in &r.structures {
        let margin = if s.critical { format!("{:.1} mm", s.margin_mm) } else { String::new() };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.2} mL</td><td>{}</td><td>{margin}</td></tr>",
            esc(&s.name),
            s.category,
            s.volume_ml,
            if s.critical { "yes" } else { "no" }
        );
    }
    let _ = writeln!(h, "</table>");
    for c in &r.conflicts {
        let _ = writeln!(h, "<p class=\"warning\">Conflict: {}</p>", esc(c));
    }
    for w in &r.warnings {
        let _ = writeln!(h, "<p class=\"warning\">Warning: {}</p>", esc(w));
    }
    for s in &r.paths {
        let (t, rep) = (&s.trajectory, &s.report);
        let v = rep.verdict.name();
        let angle = rep.entry_angle_deg.map_or("no skin crossing".into(), |a| format!("{a:.1}&deg;"));
        let _ = writeln!(h, "<h2>Trajectory: {}</h2><p class=\"{v}\"><b>{}</b></p>", esc(&t.name), v.to_uppercase());
        let _ = writeln!(
            h,
            "<p>Instrument: {} ({:.2} mm)<br>Length {:.1} mm, entry angle {angle}, risk {:.2} mm<br>\
             Entry LPS {} mm, RAS {} mm<br>Target LPS {} mm, RAS {} mm</p>",
            rep.instrument,
            rep.diameter_mm,
            rep.length_mm,
            rep.risk_mm,
            point_text(&t.entry_mm),
            point_text(&Frame::Ras.point(&t.entry_mm)),
            point_text(&t.target_mm),
            point_text(&Frame::Ras.point(&t.target_mm))
        );
        if let Some((headline, lines)) = &s.stereotaxy {
            if !headline.is_empty() {
                let _ = writeln!(h, "<p class=\"frame\"><b>{}</b></p>", esc(headline));
            }
            let _ = writeln!(h, "<p>{}</p>", lines.iter().map(|l| esc(l)).collect::<Vec<_>>().join("<br>"));
        }
        let _ = writeln!(
            h,
            "<table><tr><th>Critical structure</th><th>Min. clearance</th><th>At depth</th><th>Margin</th><th>Verdict</th></tr>"
        );
        for c in &rep.structures {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.1} mm</td><td>{:.1} mm</td><td class=\"{v}\">{v}</td></tr>",
                esc(&c.name),
                c.clearance_text(),
                c.depth_mm,
                c.margin_mm,
                v = c.verdict.name()
            );
        }
        let _ = writeln!(h, "</table>");
        if !rep.structures.is_empty() {
            let _ = writeln!(h, "<p><small>{}</small></p>", esc(CLEARANCE_NOTE));
        }
        if !rep.passes_through.is_empty() {
            let _ = writeln!(h, "<p>Passes through: {}</p>", esc(&rep.passes_through_text()));
        }
        // The profile as an inline SVG polyline.
        if rep.profile.len() > 1 {
            let max_c = rep.profile.iter().map(|p| p.clearance_mm).fold(5.0_f64, f64::max).min(40.0);
            let pts: Vec<String> = rep
                .profile
                .iter()
                .map(|p| {
                    let x = p.depth_mm / rep.length_mm.max(1e-6) * 600.0;
                    let y = 100.0 - p.clearance_mm.clamp(0.0, max_c) / max_c * 100.0;
                    format!("{x:.1},{y:.1}")
                })
                .collect();
            let _ = writeln!(
                h,
                "<p>Clearance profile (0 to {max_c:.0} mm against depth 0 to {:.0} mm):</p>\
                 <svg width=\"600\" height=\"100\" style=\"border:1px solid #aaa\"><polyline fill=\"none\" stroke=\"#1a5ac0\" points=\"{}\"/></svg>",
                rep.length_mm,
                pts.join(" ")
            );
        }
        for f in &s.figures {
            let _ = writeln!(
                h,
                "<figure><img alt=\"{c}\" src=\"data:image/png;base64,{}\"><figcaption>{c}</figcaption></figure>",
                base64(&f.image.png()),
                c = esc(&f.caption)
            );
        }
    }
    let _ = writeln!(h, "<footer>{}</footer></body></html>", esc(&r.footer));
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, coded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(super::base64(plain.as_bytes()), coded);
        }
    }
}
