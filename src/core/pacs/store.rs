//! twinplan's local study store: the DICOM files received over the network, one folder per
//! patient, study and series, and an index of them (`index.jsonl`, one line per instance,
//! appended as each arrives) rebuilt from the files when it is missing. A file is written under
//! a temporary name and renamed once complete, and only then indexed; an instance already held
//! (by SOP Instance UID) is not written again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One stored instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub sop_instance_uid: String,
    pub patient_id: String,
    pub patient_name: String,
    pub study_uid: String,
    pub study_date: String,
    pub series_uid: String,
    pub series_description: String,
    pub modality: String,
    pub sop_class_uid: String,
    /// Relative to the store's folder.
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}: the index cannot be written: {error}")]
    Index { path: PathBuf, error: String },
}

/// The store: its folder and the index of what it holds, by SOP Instance UID (the index file
/// kept open for appending).
pub struct Store {
    root: PathBuf,
    index: Mutex<(BTreeMap<String, Entry>, std::fs::File)>,
}

/// Whether a `put` stored the instance or already held it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Put {
    Stored,
    Duplicate,
}

/// The store's default folder: twinplan/store in the user's data folder ($XDG_DATA_HOME, else
/// ~/.local/share); `None` when neither is set.
pub fn default_root() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("twinplan/store"))
}

/// A name safe as one path component: letters, digits, '.', '-' and '_' kept, others '_';
/// never empty, never "." or "..".
fn component(s: &str) -> String {
    let c: String = s
        .trim()
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    if c.is_empty() || c.chars().all(|c| c == '.') { "unknown".into() } else { c }
}

impl Store {
    /// Opens (or creates) the store in `root`, reading its index, or rebuilding the index from
    /// the files when it is missing. A line cut short (the machine stopped while appending) is
    /// left out, and the index written anew.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let io = |path: PathBuf| move |e| StoreError::Io { path, error: e };
        std::fs::create_dir_all(root).map_err(io(root.to_owned()))?;
        let path = root.join("index.jsonl");
        let (index, clean) = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut index = BTreeMap::new();
                let mut clean = true;
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    match serde_json::from_str::<Entry>(line) {
                        Ok(e) => {
                            index.insert(e.sop_instance_uid.clone(), e);
                        }
                        Err(_) => clean = false,
                    }
                }
                (index, clean)
            }
            Err(_) => (rebuild(root), false),
        };
        if !clean {
            let mut text = String::new();
            for e in index.values() {
                text += &serde_json::to_string(e).expect("an entry serialises");
                text.push('\n');
            }
            crate::core::document::io::write_atomically(&path, text.as_bytes())
                .map_err(|e| StoreError::Index { path: path.clone(), error: e.to_string() })?;
        }
        let file = std::fs::OpenOptions::new().append(true).create(true).open(&path).map_err(io(path.clone()))?;
        Ok(Store { root: root.to_owned(), index: Mutex::new((index, file)) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every stored instance, by SOP Instance UID.
    pub fn entries(&self) -> BTreeMap<String, Entry> {
        self.index.lock().expect("the index lock").0.clone()
    }

    pub fn holds(&self, sop_instance_uid: &str) -> bool {
        self.index.lock().expect("the index lock").0.contains_key(sop_instance_uid)
    }

    /// Stores a complete file's bytes (`file`: preamble, meta and data set) as `entry`
    /// describes it: written beside its place, renamed, then indexed.
    pub fn put(&self, entry: &Entry, file: &[u8]) -> Result<Put, StoreError> {
        if self.holds(&entry.sop_instance_uid) {
            return Ok(Put::Duplicate);
        }
        let relative = PathBuf::from(component(&entry.patient_id))
            .join(component(&entry.study_uid))
            .join(component(&entry.series_uid))
            .join(format!("{}.dcm", component(&entry.sop_instance_uid)));
        let path = self.root.join(&relative);
        let io = |e| StoreError::Io { path: path.clone(), error: e };
        std::fs::create_dir_all(path.parent().expect("a file in a folder")).map_err(io)?;
        crate::core::io::written_whole(&path, |partial| std::fs::write(partial, file).map_err(io), io)?;
        let entry = Entry { path: relative, ..entry.clone() };
        let mut line = serde_json::to_string(&entry).expect("an entry serialises");
        line.push('\n');
        let mut index = self.index.lock().expect("the index lock");
        // Another association may have stored it meanwhile: then this copy is the same file.
        if index.0.contains_key(&entry.sop_instance_uid) {
            return Ok(Put::Duplicate);
        }
        use std::io::Write;
        index
            .1
            .write_all(line.as_bytes())
            .map_err(|e| StoreError::Index { path: self.root.join("index.jsonl"), error: e.to_string() })?;
        index.0.insert(entry.sop_instance_uid.clone(), entry);
        Ok(Put::Stored)
    }
}

/// The index as the files say: every complete `.dcm` file under the folder, read for its
/// attributes (a file that cannot be read is left out; partial files are not complete).
fn rebuild(root: &Path) -> BTreeMap<String, Entry> {
    let mut index = BTreeMap::new();
    let mut folders = vec![root.to_owned()];
    while let Some(dir) = folders.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        for path in read.flatten().map(|e| e.path()) {
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "dcm")
                && let Ok(parsed) = crate::core::dicom::read_file_header(&path)
                && let Some(entry) = describe(&parsed.object)
                && let Ok(relative) = path.strip_prefix(root)
            {
                index.insert(entry.sop_instance_uid.clone(), Entry { path: relative.to_owned(), ..entry });
            }
        }
    }
    index
}

/// What the index lists of a data set; `None` without a SOP Instance UID.
pub fn describe(object: &dicom::object::InMemDicomObject) -> Option<Entry> {
    use dicom::dictionary_std::tags;
    let text = |tag| super::text(object, tag);
    let sop_instance_uid = text(tags::SOP_INSTANCE_UID);
    (!sop_instance_uid.is_empty()).then(|| Entry {
        sop_instance_uid,
        patient_id: text(tags::PATIENT_ID),
        patient_name: text(tags::PATIENT_NAME),
        study_uid: text(tags::STUDY_INSTANCE_UID),
        study_date: text(tags::STUDY_DATE),
        series_uid: text(tags::SERIES_INSTANCE_UID),
        series_description: text(tags::SERIES_DESCRIPTION),
        modality: text(tags::MODALITY),
        sop_class_uid: text(tags::SOP_CLASS_UID),
        path: PathBuf::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_cannot_leave_the_store() {
        assert_eq!(component("../../etc"), ".._.._etc");
        assert_eq!(component(".."), "unknown");
        assert_eq!(component(""), "unknown");
        assert_eq!(component("1.2.840.1"), "1.2.840.1");
        assert_eq!(component("Doe^John/x"), "Doe_John_x");
    }
}
