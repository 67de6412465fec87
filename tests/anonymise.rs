//! Anonymised output carries nothing that identifies the patient. The bundled plan's scan is
//! copied into a folder named after a (made-up) patient, its files renamed after him, and every
//! header given his name and ID: name, ID, birth date, descriptions, institution, physician and a
//! private tag; one file is broken so that a warning names it, and the trajectory is renamed after
//! him too. Then every byte of every anonymised output (PDF streams decompressed, gzip opened,
//! file names too) is searched for each of those values.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::{pdf_text, twinplan};
use dicom::core::{DataElement, PrimitiveValue, Tag, VR};
use dicom::dictionary_std::tags;

const NAME: &str = "QUIXWORTH^ZEBULON";
const ID: &str = "QX-84736251";
/// Lower case, as searched: the name's parts, the ID's digits, dates, and the UIDs added below.
const SECRETS: [&str; 6] = ["quixworth", "zebulon", "84736251", "19510203", "19990314", "marchbanks"];

/// The phantom plan on a scan that identifies its patient everywhere: (plan, scan folder, UIDs).
fn identified_scan(dir: &Path) -> (PathBuf, PathBuf, Vec<String>) {
    let (plan, moved) = common::phantom_with_moved_scan(dir, "Quixworth_Zebulon_QX-84736251");
    let text =
        std::fs::read_to_string(&plan).unwrap().replace("Biopsy, left frontal", "Quixworth biopsy, left frontal");
    std::fs::write(&plan, text).unwrap();
    let mut uids = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&moved).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for (n, path) in files.iter().enumerate() {
        let mut obj = dicom::object::open_file(path).unwrap();
        let mut put = |tag: Tag, vr: VR, value: &str| obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        put(tags::PATIENT_NAME, VR::PN, NAME);
        put(tags::PATIENT_ID, VR::LO, ID);
        put(tags::PATIENT_BIRTH_DATE, VR::DA, "19510203");
        put(tags::STUDY_DATE, VR::DA, "19990314");
        put(tags::STUDY_DESCRIPTION, VR::LO, "Quixworth brain");
        put(tags::SERIES_DESCRIPTION, VR::LO, "Zebulon head CT");
        put(tags::INSTITUTION_NAME, VR::LO, "Quixworth Memorial Hospital");
        put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "MARCHBANKS^AMOS");
        put(Tag(0x0009, 0x0010), VR::LO, "QUIXWORTH PRIVATE");
        put(Tag(0x0009, 0x1001), VR::LO, "QX-84736251 ZEBULON");
        for tag in [tags::SERIES_INSTANCE_UID, tags::STUDY_INSTANCE_UID, tags::SOP_INSTANCE_UID] {
            uids.push(obj.element(tag).unwrap().to_str().unwrap().trim_end_matches('\0').to_owned());
        }
        // A slice in the middle whose pixels cannot be decoded (too few bytes for 32 bits a
        // pixel): the warning that it was left out names it.
        if n == 70 {
            for (tag, bits) in [(tags::BITS_ALLOCATED, 32), (tags::BITS_STORED, 32), (tags::HIGH_BIT, 31)] {
                obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(bits as u16)));
            }
        }
        let renamed = moved.join(format!("QUIXWORTH_ZEBULON_IMG{:04}", n + 1));
        obj.write_to_file(&renamed).unwrap();
        std::fs::remove_file(path).unwrap();
    }
    uids.sort();
    uids.dedup();
    (plan, moved, uids)
}

/// Every byte an output holds, as a reader would get it: the file, gzip opened, and every
/// compressed PDF stream inflated; then lower case.
fn readable_bytes(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    let mut all = raw.clone();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut all).unwrap();
    }
    let mut at = 0;
    while let Some(start) = find(&raw[at..], b"stream") {
        let begin = at + start + b"stream".len();
        let Some(end) = find(&raw[begin..], b"endstream") else { break };
        let body = raw[begin..begin + end].strip_prefix(b"\r\n").or(raw[begin..begin + end].strip_prefix(b"\n"));
        let mut inflated = Vec::new();
        if let Some(body) = body
            && flate2::read::ZlibDecoder::new(body).read_to_end(&mut inflated).is_ok()
        {
            all.extend(inflated);
        }
        at = begin + end + b"endstream".len();
    }
    all.to_ascii_lowercase()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn anonymised_reports_and_exports_hold_nothing_that_identifies_the_patient() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, scan, uids) = identified_scan(dir.path());
    let (plan, scan) = (plan.to_str().unwrap(), scan.to_str().unwrap());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let at = |name: &str| out.join(name).to_str().unwrap().to_owned();
    let secrets: Vec<String> =
        SECRETS.iter().map(|s| s.to_string()).chain(uids.iter().map(|u| u.to_lowercase())).collect();

    // Without --anonymise the same outputs do carry them: the search below can find them.
    let (code, _, err) = twinplan(&["report", plan, "--scan", scan, "--out", &at("named.pdf")]);
    assert_eq!(code, 0, "{err}");
    let named = pdf_text(&out.join("named.pdf")).to_lowercase();
    for s in ["quixworth", "zebulon", "84736251", "quixworth_zebulon_img0071"] {
        assert!(named.contains(s), "the plain report shows {s}: the test scan carries it");
    }
    std::fs::remove_file(out.join("named.pdf")).unwrap();

    for args in [
        vec!["report", plan, "--scan", scan, "--anonymise", "--out"],
        vec!["export", plan, "--scan", scan, "--anonymise", "--out"],
        vec!["export-volume", scan, "--anonymise", "--out"],
    ] {
        let target = match args[0] {
            "report" => vec![at("report.pdf"), at("report.html")],
            "export" => vec![at("export")],
            _ => vec![at("volume.nii.gz")],
        };
        for t in target {
            let mut full = args.clone();
            full.push(&t);
            let (code, _, err) = twinplan(&full);
            assert_eq!(code, 0, "{full:?}: {err}");
        }
    }
    let outputs = files_under(&out);
    assert!(outputs.len() >= 8, "report, markups, CSV, meshes, labels and volume: {outputs:?}");
    for path in &outputs {
        let bytes = readable_bytes(path);
        let name = path.strip_prefix(&out).unwrap().to_string_lossy().to_lowercase();
        for s in &secrets {
            assert!(find(&bytes, s.as_bytes()).is_none(), "{} holds '{s}'", path.display());
            assert!(!name.contains(s.as_str()), "the file name {name} holds '{s}'");
        }
    }
    let volume = twinplan::core::io::nifti::read(&out.join("volume.nii.gz")).unwrap();
    assert_eq!(volume.description, "CT", "the modality alone in the NIfTI header");
    // What the anonymised report still says: the plan, with the removed parts marked.
    let text = pdf_text(&out.join("report.pdf"));
    for s in &secrets {
        assert!(!text.to_lowercase().contains(s.as_str()), "pdftotext finds '{s}'");
    }
    for want in
        ["Patient: anonymised", "[removed] biopsy, left frontal", "file(s) of this series were left out: [removed]"]
    {
        assert!(text.contains(want), "'{want}' is not in the anonymised report:\n{text}");
    }
}
