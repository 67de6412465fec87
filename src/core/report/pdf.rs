//! The report as PDF (A4): text in the standard Helvetica fonts, so it is selectable and
//! searchable; the clearance profile as vector lines; the pictures as compressed RGB images.
//! Text streams are left uncompressed: what the report says can be checked in its bytes.

use std::io::Write;

use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::raster::Rgb;
use super::{PathSection, Report, point_text};
use crate::core::mesh::export::Frame;
use crate::core::planning::{CLEARANCE_NOTE, Verdict};

const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 48.0;
/// Where the columns of the report's tables start.
const TABLE_X: [f32; 5] = [MARGIN, MARGIN + 165.0, MARGIN + 295.0, MARGIN + 370.0, MARGIN + 440.0];
const BOTTOM: f32 = 64.0;

/// Text for a standard font: WinAnsi bytes (Latin-1 for the accented letters), '?' for the rest.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

/// One run of text at (x, y) in Helvetica (bold: Helvetica-Bold).
fn text(c: &mut Content, x: f32, y: f32, size: f32, bold: bool, s: &str) {
    c.begin_text();
    c.set_font(Name(if bold { b"F2" } else { b"F1" }), size);
    c.next_line(x, y);
    c.show(Str(&win_ansi(s)));
    c.end_text();
}

struct Page {
    content: Content,
    /// Indices into the document's images, each drawn as /ImN.
    images: Vec<usize>,
}

struct Layout<'a> {
    pages: Vec<Page>,
    images: Vec<&'a Rgb>,
    y: f32,
}

impl<'a> Layout<'a> {
    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.new_page();
        }
        self.pages.last_mut().expect("a page was just added")
    }

    fn new_page(&mut self) {
        self.pages.push(Page { content: Content::new(), images: Vec::new() });
        self.y = HEIGHT - MARGIN;
    }

    /// Room for `height` points below the cursor, on a new page if needed.
    fn need(&mut self, height: f32) {
        if self.pages.is_empty() || self.y - height < BOTTOM {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f32, y: f32, size: f32, bold: bool, s: &str) {
        text(&mut self.page().content, x, y, size, bold, s);
    }

    /// A line of text at the cursor, which moves down.
    fn line(&mut self, x: f32, size: f32, bold: bool, s: &str) {
        self.need(size * 1.4);
        self.y -= size * 1.4;
        let y = self.y;
        self.text_at(x, y, size, bold, s);
    }

    /// Text over as many lines as it needs between the margins, broken between words (by
    /// Helvetica's mean letter width, about half its size: long warnings used to run off the page).
    fn wrapped(&mut self, size: f32, bold: bool, s: &str) {
        let fits = ((WIDTH - 2.0 * MARGIN) / (size * 0.5)) as usize;
        let mut current = String::new();
        for word in s.split_whitespace() {
            if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > fits {
                self.line(MARGIN, size, bold, &current);
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        if !current.is_empty() {
            self.line(MARGIN, size, bold, &current);
        }
    }

    /// One row of a table: cells at the given x positions.
    fn row(&mut self, cells: &[(f32, String)], size: f32, bold: bool) {
        self.need(size * 1.45);
        self.y -= size * 1.45;
        let y = self.y;
        for (x, s) in cells {
            self.text_at(*x, y, size, bold, s);
        }
    }

    /// One row of a five-column table (structures, clearances), at [`TABLE_X`].
    fn table_row(&mut self, cells: [String; 5], bold: bool) {
        self.row(&TABLE_X.into_iter().zip(cells).collect::<Vec<_>>(), 10.0, bold);
    }

    fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    /// An image `w` points wide at `x`, its top at the cursor.
    fn image(&mut self, image: &'a Rgb, x: f32, w: f32) -> f32 {
        let h = w * image.height as f32 / image.width as f32;
        let index = self.images.len();
        self.images.push(image);
        let y = self.y - h;
        let page = self.page();
        page.images.push(index);
        let name = format!("Im{index}");
        page.content.save_state();
        page.content.transform([w, 0.0, 0.0, h, x, y]);
        page.content.x_object(Name(name.as_bytes()));
        page.content.restore_state();
        h
    }
}

fn verdict_rgb(v: Verdict) -> (f32, f32, f32) {
    let [r, g, b] = v.print_rgb().map(|c| f32::from(c) / 255.0);
    (r, g, b)
}

fn path_section<'a>(l: &mut Layout<'a>, s: &'a PathSection) {
    let (t, r) = (&s.trajectory, &s.report);
    l.new_page();
    l.line(MARGIN, 15.0, true, &format!("Trajectory: {}", t.name));
    l.need(16.0);
    l.y -= 16.0;
    let (cr, cg, cb) = verdict_rgb(r.verdict);
    let y = l.y;
    l.page().content.set_fill_rgb(cr, cg, cb);
    l.text_at(MARGIN, y, 13.0, true, &format!("Verdict: {}", r.verdict.name().to_uppercase()));
    l.page().content.set_fill_rgb(0.0, 0.0, 0.0);
    let angle = r.entry_angle_deg.map_or("no skin crossing".into(), |a| format!("{a:.1} deg"));
    l.line(MARGIN, 10.0, false, &format!("Instrument: {} ({:.2} mm diameter)", r.instrument, r.diameter_mm));
    l.line(
        MARGIN,
        10.0,
        false,
        &format!("Length {:.1} mm, entry angle {angle}, risk {:.2} mm", r.length_mm, r.risk_mm),
    );
    l.line(
        MARGIN,
        10.0,
        false,
        &format!("Entry  LPS {} mm   RAS {} mm", point_text(&t.entry_mm), point_text(&Frame::Ras.point(&t.entry_mm))),
    );
    l.line(
        MARGIN,
        10.0,
        false,
        &format!("Target LPS {} mm   RAS {} mm", point_text(&t.target_mm), point_text(&Frame::Ras.point(&t.target_mm))),
    );
    if let Some((headline, lines)) = &s.stereotaxy {
        l.gap(6.0);
        if !headline.is_empty() {
            l.line(MARGIN, 16.0, true, headline);
        }
        for line in lines {
            l.wrapped(9.5, false, line);
        }
    }
    l.gap(6.0);
    let head = ["Critical structure", "Min. clearance", "At depth", "Margin", "Verdict"];
    l.table_row(head.map(str::to_owned), true);
    for c in &r.structures {
        let cells = [
            c.name.clone(),
            c.clearance_text(),
            format!("{:.1} mm", c.depth_mm),
            format!("{:.1} mm", c.margin_mm),
            c.verdict.name().to_owned(),
        ];
        l.table_row(cells, false);
    }
    if r.structures.is_empty() {
        l.line(MARGIN, 10.0, false, "No critical structures were checked.");
    } else {
        l.wrapped(8.0, false, CLEARANCE_NOTE);
    }
    if !r.passes_through.is_empty() {
        l.wrapped(9.0, false, &format!("Passes through: {}", r.passes_through_text()));
    }
    for w in &r.warnings {
        l.wrapped(9.0, false, &format!("Warning: {w}"));
    }
    l.gap(8.0);
    profile(l, s);
    l.gap(10.0);
    // The picture along the path, then the three across it side by side; below, two in a row,
    // the 3D views and each fused scan along the path.
    let (slices, views) = s.figures.split_at(s.figures.len().min(4));
    if let Some((along, across)) = slices.split_first() {
        l.need(230.0);
        l.line(MARGIN, 9.0, true, &along.caption);
        l.gap(4.0);
        let h = l.image(&along.image, MARGIN, 210.0);
        let y_top = l.y;
        // Captions of the cross-sections to the right of it.
        let x = MARGIN + 225.0;
        let w = (WIDTH - MARGIN - x - 10.0) / 2.0;
        for (k, f) in across.iter().enumerate() {
            let (col, rowi) = (k % 2, k / 2);
            let fx = x + col as f32 * (w + 10.0);
            l.y = y_top - rowi as f32 * (w + 22.0);
            let cap_y = l.y - 8.0;
            l.text_at(fx, cap_y, 6.0, false, &f.caption);
            l.y -= 11.0;
            l.image(&f.image, fx, w);
        }
        l.y = y_top - h.max(2.0 * (w + 22.0));
    }
    let w = (WIDTH - 2.0 * MARGIN - 14.0) / 2.0;
    for views in views.chunks(2) {
        l.need(w + 30.0);
        l.gap(6.0);
        let y_top = l.y;
        for (k, f) in views.iter().enumerate() {
            let x = MARGIN + k as f32 * (w + 14.0);
            l.y = y_top;
            l.text_at(x, y_top - 8.0, 6.5, false, &f.caption);
            l.y -= 12.0;
            l.image(&f.image, x, w);
        }
        l.y = y_top - w - 14.0;
    }
}

/// Clearance to the nearest critical structure against depth, as vector lines.
fn profile(l: &mut Layout, s: &PathSection) {
    let r = &s.report;
    if r.profile.len() < 2 {
        return;
    }
    l.line(MARGIN, 9.0, true, "Clearance profile: distance to the nearest critical structure (mm) against depth (mm)");
    let (w, h) = (WIDTH - 2.0 * MARGIN - 30.0, 90.0);
    l.need(h + 16.0);
    let (x0, y0) = (MARGIN + 30.0, l.y - h - 4.0);
    let max_c = r.profile.iter().map(|p| p.clearance_mm).fold(5.0_f64, f64::max).min(40.0);
    let min_c = r.profile.iter().map(|p| p.clearance_mm).fold(0.0_f64, f64::min).max(-10.0);
    let x = |d: f64| x0 + (d / r.length_mm.max(1e-6)) as f32 * w;
    let y = |c: f64| y0 + ((c.clamp(min_c, max_c) - min_c) / (max_c - min_c)) as f32 * h;
    {
        let c = &mut l.page().content;
        c.set_stroke_rgb(0.6, 0.6, 0.6);
        c.set_line_width(0.5);
        c.rect(x0, y0, w, h);
        c.stroke();
        c.move_to(x0, y(0.0));
        c.line_to(x0 + w, y(0.0));
        c.stroke();
        c.set_stroke_rgb(0.1, 0.35, 0.75);
        c.set_line_width(1.2);
        for (i, p) in r.profile.iter().enumerate() {
            if i == 0 {
                c.move_to(x(p.depth_mm), y(p.clearance_mm));
            } else {
                c.line_to(x(p.depth_mm), y(p.clearance_mm));
            }
        }
        c.stroke();
        c.set_stroke_rgb(0.0, 0.0, 0.0);
    }
    l.text_at(MARGIN, y(max_c) - 3.0, 7.0, false, &format!("{max_c:.0}"));
    l.text_at(MARGIN, y(0.0) - 3.0, 7.0, false, "0");
    l.text_at(x0, y0 - 9.0, 7.0, false, "0");
    l.text_at(x0 + w - 20.0, y0 - 9.0, 7.0, false, &format!("{:.0}", r.length_mm));
    l.y = y0 - 12.0;
}

pub fn render(report: &Report) -> Vec<u8> {
    let mut l = Layout { pages: Vec::new(), images: Vec::new(), y: HEIGHT - MARGIN };
    l.line(MARGIN, 18.0, true, "Surgical plan report");
    match &report.patient {
        Some((name, id)) => l.line(MARGIN, 11.0, false, &format!("Patient: {name}   ID: {id}")),
        None => l.line(MARGIN, 11.0, false, "Patient: anonymised"),
    }
    l.gap(6.0);
    l.line(MARGIN, 12.0, true, "Scan");
    for (k, v) in &report.scan {
        l.row(&[(MARGIN, k.clone()), (MARGIN + 110.0, v.clone())], 10.0, false);
    }
    l.gap(8.0);
    l.line(MARGIN, 12.0, true, "Structures");
    let head = ["Name", "Category", "Volume", "Critical", "Margin"];
    l.table_row(head.map(str::to_owned), true);
    for s in &report.structures {
        let cells = [
            s.name.clone(),
            s.category.to_owned(),
            format!("{:.2} mL", s.volume_ml),
            if s.critical { "yes".into() } else { "no".into() },
            if s.critical { format!("{:.1} mm", s.margin_mm) } else { String::new() },
        ];
        l.table_row(cells, false);
    }
    l.gap(8.0);
    l.line(MARGIN, 12.0, true, "Trajectories");
    for s in &report.paths {
        let r = &s.report;
        let nearest = r
            .structures
            .first()
            .map_or("no critical structures".into(), |c| format!("{} {:.2} mm", c.name, c.min_clearance_mm));
        l.line(
            MARGIN,
            10.0,
            false,
            &format!(
                "{}: {} - length {:.1} mm, nearest {nearest}",
                s.trajectory.name,
                r.verdict.name().to_uppercase(),
                r.length_mm
            ),
        );
    }
    if report.paths.is_empty() {
        l.line(MARGIN, 10.0, false, "The plan has no trajectories.");
    }
    for c in &report.conflicts {
        l.line(MARGIN, 10.0, false, &format!("Conflict: {c}"));
    }
    for w in &report.warnings {
        l.wrapped(9.0, false, &format!("Warning: {w}"));
    }
    for s in &report.paths {
        path_section(&mut l, s);
    }

    // Footer on every page: the software, the plan's checksum, the date and the notice.
    let pages = l.pages.len();
    for (i, page) in l.pages.iter_mut().enumerate() {
        text(&mut page.content, MARGIN, 36.0, 7.0, false, &report.footer);
        text(&mut page.content, WIDTH - MARGIN - 40.0, 24.0, 7.0, false, &format!("page {} of {pages}", i + 1));
    }

    let mut pdf = Pdf::new();
    let (catalog, tree, font, bold, info) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5));
    let mut next = 6;
    let mut alloc = || {
        next += 1;
        Ref::new(next - 1)
    };
    let image_refs: Vec<Ref> = l.images.iter().map(|_| alloc()).collect();
    let page_refs: Vec<(Ref, Ref)> = l.pages.iter().map(|_| (alloc(), alloc())).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_refs.iter().map(|(p, _)| *p)).count(page_refs.len() as i32);
    pdf.document_info(info).title(TextStr("Surgical plan report")).creator(TextStr("twinplan"));
    pdf.type1_font(font).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    for (image, id) in l.images.iter().zip(&image_refs) {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = z.write_all(image.pixels.as_flattened());
        let data = z.finish().unwrap_or_default();
        let mut x = pdf.image_xobject(*id, &data);
        x.filter(Filter::FlateDecode);
        x.width(image.width as i32);
        x.height(image.height as i32);
        x.color_space().device_rgb();
        x.bits_per_component(8);
        x.finish();
    }
    for (page, (page_id, content_id)) in l.pages.into_iter().zip(&page_refs) {
        let mut p = pdf.page(*page_id);
        p.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT));
        p.parent(tree);
        p.contents(*content_id);
        let mut resources = p.resources();
        resources.fonts().pair(Name(b"F1"), font).pair(Name(b"F2"), bold);
        let mut xobjects = resources.x_objects();
        for &i in &page.images {
            xobjects.pair(Name(format!("Im{i}").as_bytes()), image_refs[i]);
        }
        xobjects.finish();
        resources.finish();
        p.finish();
        pdf.stream(*content_id, &page.content.finish());
    }
    pdf.finish()
}
