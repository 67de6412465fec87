//! File formats other than DICOM.

pub mod nifti;
pub mod nrrd;
pub mod tracts;
pub mod volume_file;

use std::path::{Path, PathBuf};

/// Runs `write` on a file beside `path` (its name with `.partial` added) and renames that to
/// `path` once complete; when writing or renaming fails the partial file is removed. So a file
/// under the name asked for is always whole. `renamed` says what a failed rename is.
pub fn written_whole<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
    renamed: impl FnOnce(std::io::Error) -> E,
) -> Result<(), E> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = write(&partial).and_then(|()| std::fs::rename(&partial, path).map_err(renamed));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}
