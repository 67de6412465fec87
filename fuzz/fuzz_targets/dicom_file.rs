//! The single-file DICOM reader on arbitrary bytes: headers, geometry and pixel decoding must
//! return an error or a result, never panic, hang or allocate without bound.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use twinplan::core::dicom::{build_series, decode_bytes, read_object, slice_headers};

/// Inputs declaring more than this many voxels are checked up to their headers only: decoding
/// them would measure the allocator, not the parser.
const MAX_FUZZ_VOXELS: u64 = 1 << 22;

fuzz_target!(|data: &[u8]| {
    // A panicking codec is caught by the reader and kept from the panic hook (it is that file's
    // decode error); any other panic reaches libfuzzer-sys's hook, which aborts: a find.
    let name = Path::new("fuzz.dcm");
    let Ok(parsed) = read_object(data, name, false) else { return };
    let Ok(headers) = slice_headers(&parsed, name) else { return };
    let voxels: u64 = headers.iter().map(|h| h.rows as u64 * h.cols as u64).sum();
    let _ = build_series(headers);
    if voxels <= MAX_FUZZ_VOXELS {
        let _ = decode_bytes(data, name);
    }
});
