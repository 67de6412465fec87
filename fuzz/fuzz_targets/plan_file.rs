//! The plan reader on arbitrary text: a corrupt or hand-edited plan must give an error (with
//! its line and column), never a panic or a hang; a plan it reads must write back and read again.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use twinplan::core::document::io::{parse, to_json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("/plans/fuzz.twinplan.json");
    if let Ok(doc) = parse(text, path) {
        let again = parse(&to_json(&doc, path), path).expect("a plan twinplan wrote reads back");
        assert_eq!(again.trajectories.len(), doc.trajectories.len());
        assert_eq!(again.segmentation.segments.len(), doc.segmentation.segments.len());
    }
});
