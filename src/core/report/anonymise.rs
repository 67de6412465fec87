//! Anonymised output: nothing that identifies the patient, the study or the place reaches a
//! report or an export made with `--anonymise`. Fields that identify are left out where the
//! output is made (name, ID, dates, UIDs, descriptions); this catches what free text carries on
//! top: warnings that name files, paths, and names a user typed (a trajectory named after the
//! patient). Every text of such an output passes through [`Scrubber::text`].

use crate::core::volume::VolumeMeta;

/// Stands in for what was removed.
const REMOVED: &str = "[removed]";

/// Removes known identifying values from text.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    /// Lower-case values removed wherever they occur, longest first.
    values: Vec<String>,
}

impl Scrubber {
    /// The identifying values of a scan (its headers and the names of its files).
    pub fn new(meta: &VolumeMeta) -> Scrubber {
        let mut values: Vec<String> = meta
            .identifying
            .iter()
            .chain([&meta.patient_name, &meta.patient_id, &meta.series_uid, &meta.study_uid, &meta.study_date])
            .chain([&meta.description])
            .map(|v| v.trim().to_lowercase())
            // One or two characters are too common to remove from text (and identify no one).
            .filter(|v| v.chars().count() >= 3)
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        values.dedup();
        Scrubber { values }
    }

    /// This scrubber removing `meta`'s identifying values too (a fused scan's).
    pub fn and(self, meta: &VolumeMeta) -> Scrubber {
        let more = Scrubber::new(meta).values;
        self.and_values(more)
    }

    /// This scrubber removing `values` too (what names a fused scan that could not be read).
    pub fn and_values(self, values: impl IntoIterator<Item = String>) -> Scrubber {
        let mut all = self.values;
        all.extend(values.into_iter().map(|v| v.trim().to_lowercase()).filter(|v| v.chars().count() >= 3));
        all.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        all.dedup();
        Scrubber { values: all }
    }

    /// The text without the identifying values (matched regardless of case) and without paths
    /// (any word holding a slash or a backslash).
    pub fn text(&self, s: &str) -> String {
        let words: Vec<&str> = s.split(' ').collect();
        let mut out: String =
            words.iter().map(|w| if w.contains(['/', '\\']) { "[path]" } else { w }).collect::<Vec<_>>().join(" ");
        for v in &self.values {
            out = replace_ignoring_case(&out, v);
        }
        out
    }
}

/// `haystack` with every occurrence of the lower-case `needle`, in any case, replaced.
fn replace_ignoring_case(haystack: &str, needle: &str) -> String {
    let lower = haystack.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII: then fall back to the lowered text.
    if lower.len() != haystack.len() {
        return lower.replace(needle, REMOVED);
    }
    let mut out = String::with_capacity(haystack.len());
    let mut from = 0;
    while let Some(at) = lower[from..].find(needle) {
        out.push_str(&haystack[from..from + at]);
        out.push_str(REMOVED);
        from += at + needle.len();
    }
    out.push_str(&haystack[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_values_in_any_case_and_paths() {
        let meta = VolumeMeta {
            patient_name: "QUIXWORTH ZEBULON".into(),
            identifying: vec!["QUIXWORTH".into(), "ZEBULON".into(), "Quixworth_Z_IMG0050".into(), "CT".into()],
            ..Default::default()
        };
        let s = Scrubber::new(&meta);
        let t = s.text("3 file(s) left out: Quixworth_Z_IMG0050: truncated; see /home/x/quixworth/a.dcm, Zebulon's CT");
        assert_eq!(t, "3 file(s) left out: [removed]: truncated; see [path] [removed]'s CT");
        assert_eq!(s.text("Ünïcode QUIXWORTH"), "Ünïcode [removed]");
        assert_eq!(s.text("İ QUIXWORTH"), "i\u{307} [removed]", "lower-casing that changes lengths");
    }
}
