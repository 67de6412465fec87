//! DICOM networking against a real peer: DCMTK (Debian's `dcmtk`, installed by
//! `.ci/install-deps`) as the other side, on 127.0.0.1 only, every wait bounded. `twinplan
//! listen` receives what DCMTK's storescu sends, byte for byte, refuses strangers and survives
//! broken peers; `twinplan send` delivers to DCMTK's storescp.

mod common;

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `twinplan listen` child, killed when dropped, and the port it listens on.
struct Listener {
    child: Child,
    port: u16,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(store: &Path, more: &[&str]) -> Listener {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twinplan"))
        .args(["listen", "--port", "0", "--store", store.to_str().unwrap()])
        .args(more)
        .stdout(Stdio::piped())
        .spawn()
        .expect("twinplan listen");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    let port = first.split(':').nth(1).and_then(|s| s.split(' ').next()).and_then(|p| p.parse().ok());
    let port = port.unwrap_or_else(|| panic!("no port in '{first}'"));
    Listener { child, port }
}

/// A DCMTK tool's exit status and what it printed (with TCP_NODELAY, DCMTK's switch against
/// waiting ~40 ms per message on delayed acknowledgements).
fn dcmtk(tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool)
        .env("TCP_NODELAY", "1")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (dcmtk): {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn echo(port: u16, called: &str, calling: &str) -> (bool, String) {
    dcmtk("echoscu", &["-to", "10", "-aec", called, "-aet", calling, "127.0.0.1", &port.to_string()])
}

/// A DICOM file's data set: what follows its file meta group.
fn data_set(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[128..132], b"DICM", "{}", path.display());
    let group = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
    bytes[144 + group..].to_vec()
}

/// Every file under a folder.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for p in std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()) {
            if p.is_dir() { dirs.push(p) } else { out.push(p) }
        }
    }
    out.sort();
    out
}

/// The SOP Instance UID in a file (read by dicom-rs).
fn instance_uid(path: &Path) -> Option<String> {
    let object = dicom::object::open_file(path).ok()?;
    Some(object.meta().media_storage_sop_instance_uid().trim_end_matches('\0').to_owned())
}

/// The store's index (`index.jsonl`), by SOP Instance UID.
fn index(store: &Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    let text = std::fs::read_to_string(store.join("index.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["sop_instance_uid"].as_str().unwrap().to_owned(), v))
        .collect()
}

/// The ct-head-phantom images (140; its LICENSE and DICOMDIR-like DIRFILE are not images).
fn head_images() -> Vec<PathBuf> {
    let image = |p: &PathBuf| {
        dicom::object::open_file(p)
            .is_ok_and(|o| o.meta().media_storage_sop_class_uid().starts_with("1.2.840.10008.5.1.4"))
    };
    files(&common::data("ct-head-phantom")).into_iter().filter(image).collect()
}

/// DCMTK's storescu sends the 140 images of ct-head-phantom: every one is stored, its data set
/// byte for byte as sent, indexed by patient, study and series; sent again, each is recognised
/// as held. Nine transfer syntaxes (native, RLE, JPEG lossless, JPEG-LS, JPEG 2000) are each
/// received byte for byte. C-ECHO answers; a wrong called AE title and a caller not on the allowed list are
/// refused; the index, deleted, is rebuilt from the files.
#[test]
fn dcmtk_storescu_sends_a_series_that_is_stored_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let service = listen(&store, &["--ae", "TWINPLAN", "--allow", "STORESCU,ECHOSCU"]);
    let port = service.port.to_string();
    assert!(echo(service.port, "TWINPLAN", "ECHOSCU").0);
    let (ok, said) = echo(service.port, "ELSEWHERE", "ECHOSCU");
    assert!(!ok && said.contains("Called AE Title Not Recognized"), "{said}");
    let (ok, said) = echo(service.port, "TWINPLAN", "STRANGER");
    assert!(!ok && said.contains("Calling AE Title Not Recognized"), "{said}");

    let images = head_images();
    assert_eq!(images.len(), 140);
    let mut args = vec!["-to", "20", "-aec", "TWINPLAN", "-aet", "STORESCU", "127.0.0.1", &port];
    let names: Vec<String> = images.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let (ok, said) = dcmtk("storescu", &args);
    assert!(ok, "{said}");
    let stored: Vec<PathBuf> =
        files(&store).into_iter().filter(|p| p.extension().is_some_and(|e| e == "dcm")).collect();
    assert_eq!(stored.len(), 140);
    let by_uid: std::collections::BTreeMap<String, &PathBuf> =
        stored.iter().map(|p| (instance_uid(p).unwrap(), p)).collect();
    for image in &images {
        let kept = by_uid[&instance_uid(image).unwrap()];
        assert!(data_set(kept) == data_set(image), "{} differs from {}", kept.display(), image.display());
    }
    let entries = index(&store);
    assert_eq!(entries.len(), 140);
    let first = entries.values().next().unwrap();
    assert_eq!(first["modality"], "CT");
    assert!(store.join(first["path"].as_str().unwrap()).is_file());

    // Sent again: held already, nothing added.
    let (ok, said) = dcmtk("storescu", &args);
    assert!(ok, "{said}");
    assert_eq!(files(&store).len(), 141, "the 140 images and the index");

    // The same MR slice in nine transfer syntaxes, each proposed alone (storescu -R with the
    // syntax's option): each is accepted and kept byte for byte as it came.
    let syntaxes = common::data("transfer-syntaxes");
    for (n, option) in
        [(1, "-xe"), (2, "-xi"), (3, "-xb"), (4, "-xr"), (5, "-xs"), (6, "-xs"), (7, "-xt"), (8, "-xt"), (9, "-xv")]
    {
        let file = syntaxes.join(format!("{n}.dcm"));
        let (ok, said) = dcmtk(
            "storescu",
            &[
                "-R",
                option,
                "-to",
                "20",
                "-aec",
                "TWINPLAN",
                "-aet",
                "STORESCU",
                "127.0.0.1",
                &port,
                file.to_str().unwrap(),
            ],
        );
        assert!(ok, "{n}.dcm: {said}");
        let uid = instance_uid(&file).unwrap();
        let kept = files(&store).into_iter().find(|p| instance_uid(p).as_deref() == Some(uid.as_str())).unwrap();
        assert!(data_set(&kept) == data_set(&file), "{n}.dcm");
    }
    assert_eq!(files(&store).len(), 150);
    drop(service);
    let written = index(&store);
    assert!(entries.keys().all(|k| written.contains_key(k)));
    std::fs::remove_file(store.join("index.jsonl")).unwrap();
    let rebuilt = twinplan::core::pacs::store::Store::open(&store).unwrap().entries();
    assert_eq!(rebuilt.len(), 149);
    let rebuilt: std::collections::BTreeMap<String, serde_json::Value> =
        rebuilt.into_iter().map(|(k, v)| (k, serde_json::to_value(v).unwrap())).collect();
    assert_eq!(rebuilt, written, "the index rebuilt from the files is the one written as they came");
}

/// Peers that misbehave: garbage instead of a PDU, an association aborted in the middle of an
/// object, a transfer syntax twinplan cannot decode, an object over the size limit. Each is
/// dropped; the service keeps answering, and the store holds only complete files.
#[test]
fn broken_peers_leave_no_half_file_and_the_service_keeps_running() {
    use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let service = listen(&store, &["--max-object-mib", "1"]);
    let address = ("127.0.0.1", service.port);

    // Garbage: not an association request.
    let mut raw = std::net::TcpStream::connect(address).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: twinplan\r\n\r\n").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    assert!(echo(service.port, "TWINPLAN", "ECHOSCU").0, "still answering after garbage");

    // Aborted half way through an image.
    let image = &head_images()[0];
    let object = dicom::object::open_file(image).unwrap();
    let class = object.meta().media_storage_sop_class_uid().trim_end_matches('\0').to_owned();
    let uid = object.meta().media_storage_sop_instance_uid().trim_end_matches('\0').to_owned();
    let ts = object.meta().transfer_syntax().trim_end_matches('\0').to_owned();
    let mut association = dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title("BROKEN")
        .called_ae_title("TWINPLAN")
        .with_presentation_context(class.as_str(), vec![ts.as_str()])
        .establish(address)
        .unwrap();
    let pc = association.presentation_contexts()[0].clone();
    assert_eq!(pc.reason, PresentationContextResultReason::Acceptance);
    use dicom::core::{DataElement, PrimitiveValue, VR};
    use dicom::dictionary_std::tags;
    let command = dicom::object::InMemDicomObject::command_from_element_iter([
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from(class.as_str())),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(uid.as_str())),
    ]);
    let mut bytes = Vec::new();
    command
        .write_dataset_with_ts(&mut bytes, &dicom::transfer_syntax::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .unwrap();
    let pdv = |value_type, is_last, data| Pdu::PData {
        data: vec![PDataValue { presentation_context_id: pc.id, value_type, is_last, data }],
    };
    association.send(&pdv(PDataValueType::Command, true, bytes)).unwrap();
    let half = data_set(image)[..10_000].to_vec();
    association.send(&pdv(PDataValueType::Data, false, half)).unwrap();
    association.abort().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(echo(service.port, "TWINPLAN", "ECHOSCU").0, "still answering after an abort");

    // A transfer syntax that cannot be decoded here (MPEG-2): its context is refused, so no
    // association is made.
    let refused = dicom_ul::ClientAssociationOptions::new()
        .called_ae_title("TWINPLAN")
        .with_presentation_context(class.as_str(), vec!["1.2.840.10008.1.2.4.100"])
        .establish(address);
    assert!(
        matches!(refused, Err(dicom_ul::association::Error::NoAcceptedPresentationContexts { .. })),
        "an MPEG-2 context was accepted: {:?}",
        refused.as_ref().map(|a| a.presentation_contexts().to_vec())
    );

    // An object over the 1 MiB limit (the bundled plan's segments as SEG, about 2.7 MB).
    let seg = tmp.path().join("segments.dcm");
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    assert_eq!(common::twinplan(&["export", plan.to_str().unwrap(), "--seg", seg.to_str().unwrap()]).0, 0);
    assert!(std::fs::metadata(&seg).unwrap().len() > 1 << 20);
    let node = format!("TWINPLAN@127.0.0.1:{}", service.port);
    let (code, _, err) = common::twinplan(&["send", seg.to_str().unwrap(), "--to", &node]);
    assert_eq!(code, 1, "{err}");
    assert!(echo(service.port, "TWINPLAN", "ECHOSCU").0, "still answering after an object too large");

    // Nothing was stored: no image, no partial file, an empty index.
    let left: Vec<PathBuf> = files(&store).into_iter().filter(|p| p.file_name().unwrap() != "index.jsonl").collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(index(&store).is_empty());
}

/// `twinplan send` to DCMTK's storescp: 20 CT images (data sets byte for byte as sent), the
/// bundled plan's DICOM SEG and its report as Encapsulated PDF, which dciodvfy (dicom3tools, in
/// the venv `.ci/install-deps` makes) still finds no error in once received. `echo` answers.
#[test]
fn send_delivers_images_seg_and_pdf_to_dcmtk_storescp() {
    let tmp = tempfile::tempdir().unwrap();
    let received = tmp.path().join("received");
    std::fs::create_dir(&received).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut peer = Command::new("storescp")
        .args(["-aet", "PEER", "-od", received.to_str().unwrap(), &port.to_string()])
        .spawn()
        .expect("storescp (dcmtk)");
    let node = format!("PEER@127.0.0.1:{port}");
    let mut answered = false;
    for _ in 0..50 {
        if common::twinplan(&["echo", &node]).0 == 0 {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let plan = common::project("sample_scans/phantom/phantom.twinplan.json");
    let (seg, pdf) = (tmp.path().join("segments.dcm"), tmp.path().join("report.dcm"));
    assert_eq!(common::twinplan(&["export", plan.to_str().unwrap(), "--seg", seg.to_str().unwrap()]).0, 0);
    assert_eq!(common::twinplan(&["report", plan.to_str().unwrap(), "--out", pdf.to_str().unwrap()]).0, 0);
    let images: Vec<PathBuf> = head_images().into_iter().take(20).collect();
    let mut args = vec!["send".to_owned(), seg.display().to_string(), pdf.display().to_string()];
    args.extend(images.iter().map(|p| p.display().to_string()));
    args.extend(["--to".to_owned(), node.clone()]);
    let (code, text, err) = common::twinplan(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let _ = peer.kill();
    let _ = peer.wait();
    assert!(answered, "storescp never answered C-ECHO");
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("sent 22 files"), "{text}");
    let got = files(&received);
    assert_eq!(got.len(), 22);
    for image in &images {
        let uid = instance_uid(image).unwrap();
        let arrived = got.iter().find(|p| p.file_name().unwrap().to_string_lossy().ends_with(&uid)).unwrap();
        assert!(data_set(arrived) == data_set(image), "{uid}");
    }
    let venv = std::env::var_os("TWINPLAN_DICOM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/twinplan/dicom-venv"));
    for prefix in ["SG.", "PDF."] {
        let file = got.iter().find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix)).unwrap();
        let out = Command::new(venv.join("bin/dciodvfy")).arg(file).output().expect("dciodvfy");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!said.lines().any(|l| l.starts_with("Error")), "{said}");
    }
}

/// Query and retrieve against DCMTK's dcmqrscp (a PACS holding ct-head-phantom, indexed by
/// dcmqridx): `query` finds the study by patient ID (and nothing for another) and lists its one
/// series; `retrieve` has the PACS send the study (C-MOVE) to twinplan's storage service,
/// run for the purpose, and all 140 images arrive byte for byte. A PACS that does not know the
/// destination fails the move with its status, and nothing is added.
#[test]
fn query_and_retrieve_from_dcmtk_dcmqrscp() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, images) = (tmp.path().join("db"), tmp.path().join("images"));
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&images).unwrap();
    let originals = head_images();
    for image in &originals {
        std::fs::copy(image, images.join(image.file_name().unwrap())).unwrap();
    }
    let copies: Vec<String> =
        std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
    let mut index = vec![db.display().to_string()];
    index.extend(copies);
    let (ok, said) = dcmtk("dcmqridx", &index.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{said}");
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (pacs_port, our_port) = (free(), free());
    let config = tmp.path().join("dcmqrscp.cfg");
    std::fs::write(
        &config,
        format!(
            "NetworkTCPPort = {pacs_port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\
             HostTable BEGIN\ntwinplan = (TWINPLAN, 127.0.0.1, {our_port})\nHostTable END\n\
             VendorTable BEGIN\nVendorTable END\n\
             AETable BEGIN\nPACS {} RW (200, 1024mb) ANY\nAETable END\n",
            db.display()
        ),
    )
    .unwrap();
    let pacs = Listener {
        child: Command::new("dcmqrscp").args(["-c", config.to_str().unwrap()]).spawn().expect("dcmqrscp (dcmtk)"),
        port: pacs_port,
    };
    let node = format!("PACS@127.0.0.1:{}", pacs.port);
    assert!((0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        common::twinplan(&["echo", &node]).0 == 0
    }));

    let (code, text, err) = common::twinplan(&["query", "--pacs", &node, "--patient-id", "PLASTIC", "--json"]);
    assert_eq!(code, 0, "{err}");
    let studies: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(studies.as_array().unwrap().len(), 1, "{text}");
    let study = studies[0]["study_uid"].as_str().unwrap().to_owned();
    assert_eq!(studies[0]["patient_id"], "PLASTIC");
    let (code, text, _) = common::twinplan(&["query", "--pacs", &node, "--patient-id", "NOBODY", "--json"]);
    assert_eq!((code, serde_json::from_str::<serde_json::Value>(&text).unwrap()), (0, serde_json::json!([])));
    let (code, text, err) = common::twinplan(&["query", "--pacs", &node, "--study", &study, "--json"]);
    assert_eq!(code, 0, "{err}");
    // (dcmqrscp does not count instances: the counts stay null.)
    let series: serde_json::Value = serde_json::from_str(&text).unwrap();
    let first = dicom::object::open_file(&originals[0]).unwrap();
    let series_uid = first.element(dicom::dictionary_std::tags::SERIES_INSTANCE_UID).unwrap().to_str().unwrap();
    assert_eq!(series.as_array().unwrap().len(), 1, "{text}");
    assert_eq!(series[0]["series_uid"], series_uid.trim_end_matches('\0'));
    assert_eq!(series[0]["modality"], "CT");

    let store = tmp.path().join("store");
    let (code, text, err) = common::twinplan(&[
        "retrieve",
        "--pacs",
        &node,
        "--study",
        &study,
        "--port",
        &our_port.to_string(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("140 sent, 0 failed") && text.contains("140 new"), "{text}");
    let stored: Vec<PathBuf> =
        files(&store).into_iter().filter(|p| p.extension().is_some_and(|e| e == "dcm")).collect();
    assert_eq!(stored.len(), 140);
    for image in &originals {
        let uid = instance_uid(image).unwrap();
        let kept = stored.iter().find(|p| instance_uid(p).as_deref() == Some(uid.as_str())).unwrap();
        assert!(data_set(kept) == data_set(image), "{uid}");
    }

    // To an AE title the PACS does not know: the move fails, nothing is added.
    let other = tmp.path().join("other");
    let (code, _, err) = common::twinplan(&[
        "retrieve",
        "--pacs",
        &node,
        "--study",
        &study,
        "--ae",
        "UNKNOWN",
        "--port",
        &free().to_string(),
        "--store",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("C-MOVE failed with status"), "{err}");
    assert!(files(&other).iter().all(|p| p.file_name().unwrap() == "index.jsonl"));
    drop(pacs);
}

/// A 500-image series (written here: 64 x 64 images of a gradient, one file each) sent by
/// storescu in one association: all 500 are stored, every data set byte for byte, and the index
/// lists 500 instances of one series. A second service with `--max-associations 1` serves one
/// peer at a time: while an association is open, a second is refused and the first still works.
#[test]
fn a_500_image_series_arrives_whole_and_associations_are_limited() {
    use twinplan::core::dicom::write::{WriteOptions, write_series};
    use twinplan::core::volume::{Grid, Volume, VolumeMeta, VoxelData};
    let tmp = tempfile::tempdir().unwrap();
    let grid = Grid::axis_aligned([64, 64, 500], nalgebra::Point3::new(0.0, 0.0, 0.0), [1.0, 1.0, 0.5]);
    let data = (0..64 * 64 * 500).map(|i| ((i % 4096) as i16) - 1000).collect();
    let meta = VolumeMeta { modality: "CT".into(), patient_id: "FIVE-HUNDRED".into(), ..Default::default() };
    let volume = Volume { grid, data: VoxelData::I16(data), meta, warnings: Vec::new() };
    let written = write_series(&volume, &tmp.path().join("series"), &WriteOptions::new("network test 500")).unwrap();
    assert_eq!(written.len(), 500);
    let store = tmp.path().join("store");
    let service = listen(&store, &[]);
    let port = service.port.to_string();
    let mut args = vec!["-to", "30", "-aec", "TWINPLAN", "127.0.0.1", &port];
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let (ok, said) = dcmtk("storescu", &args);
    assert!(ok, "{said}");
    let entries = index(&store);
    assert_eq!(entries.len(), 500);
    let series: std::collections::BTreeSet<&str> =
        entries.values().map(|e| e["series_uid"].as_str().unwrap()).collect();
    assert_eq!(series.len(), 1);
    for image in &written {
        let uid = instance_uid(image).unwrap();
        let kept = store.join(entries[&uid]["path"].as_str().unwrap());
        assert!(data_set(&kept) == data_set(image), "{}", image.display());
    }
    drop(service);

    let single = listen(&tmp.path().join("single"), &["--max-associations", "1"]);
    let first = dicom_ul::ClientAssociationOptions::new()
        .called_ae_title("TWINPLAN")
        .with_abstract_syntax("1.2.840.10008.1.1")
        .establish(("127.0.0.1", single.port))
        .unwrap();
    let (ok, said) = echo(single.port, "TWINPLAN", "ECHOSCU");
    assert!(!ok, "a second association while one is open: {said}");
    let _ = first.release();
    std::thread::sleep(Duration::from_millis(200));
    assert!(echo(single.port, "TWINPLAN", "ECHOSCU").0, "served again once the first ended");
}
