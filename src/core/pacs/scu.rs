//! twinplan as the calling side: C-ECHO to check a peer, and C-STORE of DICOM files (the SEG
//! and Encapsulated PDF it makes, or any others) to a PACS or another workstation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom::core::{DataElement, PrimitiveValue, VR};
use dicom::dictionary_std::tags;
use dicom::object::InMemDicomObject;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};

use super::{Node, command_value, implicit};
use crate::core::progress::{Cancelled, Progress};

#[derive(Debug, thiserror::Error)]
pub enum ScuError {
    #[error("{node}: cannot associate: {error}")]
    Associate { node: String, error: String },
    #[error("{node}: {error}")]
    Transfer { node: String, error: String },
    #[error("{path}: cannot be sent: {error}")]
    File { path: PathBuf, error: String },
    #[error("{node} refused {path} with status {status:#06x}")]
    Refused { node: String, path: PathBuf, status: u16 },
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const TIMEOUT: Duration = Duration::from_secs(30);

/// The status of the response in `pdu`, if it is one.
fn status_of(pdu: &Pdu) -> Option<u16> {
    let Pdu::PData { data } = pdu else { return None };
    let value = data.iter().find(|v| v.value_type == PDataValueType::Command)?;
    let command = InMemDicomObject::read_dataset_with_ts(value.data.as_slice(), &implicit()).ok()?;
    command.element(tags::STATUS).ok()?.to_int::<u16>().ok()
}

/// Asks `node` for a C-ECHO, as `calling`; Ok when it answers success.
pub fn echo(node: &Node, calling: &str) -> Result<(), ScuError> {
    let name = node.to_string();
    let fail = |e: &dyn std::fmt::Display| ScuError::Transfer { node: name.clone(), error: e.to_string() };
    let mut association = dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title(calling)
        .called_ae_title(node.ae_title.as_str())
        .with_abstract_syntax("1.2.840.10008.1.1")
        .read_timeout(TIMEOUT)
        .write_timeout(TIMEOUT)
        .connection_timeout(TIMEOUT)
        .establish((node.host.as_str(), node.port))
        .map_err(|e| ScuError::Associate { node: name.clone(), error: e.to_string() })?;
    let context = association.presentation_contexts()[0].id;
    let command = command_value(
        context,
        vec![
            DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.1.1")),
            DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0030u16)),
            DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(1u16)),
            DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0x0101u16)),
        ],
    );
    association.send(&Pdu::PData { data: vec![command] }).map_err(|e| fail(&e))?;
    let reply = association.receive().map_err(|e| fail(&e))?;
    let _ = association.release();
    match status_of(&reply) {
        Some(0) => Ok(()),
        Some(status) => Err(fail(&format!("C-ECHO answered with status {status:#06x}"))),
        None => Err(fail(&"no C-ECHO response")),
    }
}

/// A file to send: its SOP class and instance, transfer syntax and data set bytes.
struct Outgoing {
    path: PathBuf,
    sop_class: String,
    sop_instance: String,
    transfer_syntax: String,
    data: Vec<u8>,
}

fn outgoing(path: &Path) -> Result<Outgoing, ScuError> {
    let fail = |e: &dyn std::fmt::Display| ScuError::File { path: path.to_owned(), error: e.to_string() };
    let file = dicom::object::open_file(path).map_err(|e| fail(&e))?;
    let meta = file.meta();
    let clean = |s: &str| s.trim_end_matches('\0').trim().to_owned();
    let transfer_syntax = clean(meta.transfer_syntax());
    let ts = dicom::transfer_syntax::TransferSyntaxRegistry
        .get(&transfer_syntax)
        .ok_or_else(|| fail(&format!("transfer syntax {transfer_syntax} unknown")))?;
    let mut data = Vec::new();
    file.write_dataset_with_ts(&mut data, ts).map_err(|e| fail(&e))?;
    Ok(Outgoing {
        path: path.to_owned(),
        sop_class: clean(meta.media_storage_sop_class_uid()),
        sop_instance: clean(meta.media_storage_sop_instance_uid()),
        transfer_syntax,
        data,
    })
}

use dicom::encoding::TransferSyntaxIndex;

/// Sends `files` to `node` by C-STORE over one association, as `calling`: each in its own
/// transfer syntax (or explicit or implicit VR little endian when the peer takes only those,
/// for files in those). Stops at the first file the peer refuses. Returns how many were sent.
pub fn send(files: &[PathBuf], node: &Node, calling: &str, progress: &Progress) -> Result<usize, ScuError> {
    let name = node.to_string();
    let fail = |e: &dyn std::fmt::Display| ScuError::Transfer { node: name.clone(), error: e.to_string() };
    progress.begin("Reading files", files.len() as u64);
    let mut items = Vec::with_capacity(files.len());
    for path in files {
        progress.check()?;
        items.push(outgoing(path)?);
        progress.advance(1);
    }
    // One presentation context per SOP class and transfer syntax.
    let mut contexts: Vec<(String, String)> =
        items.iter().map(|o| (o.sop_class.clone(), o.transfer_syntax.clone())).collect();
    contexts.sort();
    contexts.dedup();
    let mut options = dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title(calling)
        .called_ae_title(node.ae_title.as_str())
        .read_timeout(TIMEOUT)
        .write_timeout(TIMEOUT)
        .connection_timeout(TIMEOUT);
    for (class, ts) in &contexts {
        let mut offered = vec![ts.clone()];
        for plain in [EXPLICIT_LE, IMPLICIT_LE] {
            if !offered.iter().any(|t| t == plain) && [EXPLICIT_LE, IMPLICIT_LE].contains(&ts.as_str()) {
                offered.push(plain.to_owned());
            }
        }
        options = options.with_presentation_context(class.clone(), offered);
    }
    let mut association = options
        .establish((node.host.as_str(), node.port))
        .map_err(|e| ScuError::Associate { node: name.clone(), error: e.to_string() })?;
    progress.begin("Sending", items.len() as u64);
    let max_pdu = association.acceptor_max_pdu_length().max(4096) as usize;
    for (n, item) in items.iter().enumerate() {
        if let Err(e) = progress.check() {
            let _ = association.abort();
            return Err(e.into());
        }
        // A context the peer accepted for this class: in the file's syntax, else (for a plain
        // little endian file) in the other plain one.
        let clean = |s: &str| s.trim_end_matches('\0').to_owned();
        let plain = |ts: &str| [EXPLICIT_LE, IMPLICIT_LE].contains(&ts);
        let accepted: Vec<_> = association
            .presentation_contexts()
            .iter()
            .filter(|pc| {
                pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
                    && clean(&pc.abstract_syntax) == item.sop_class
            })
            .cloned()
            .collect();
        let chosen = accepted
            .iter()
            .find(|pc| clean(&pc.transfer_syntax) == item.transfer_syntax)
            .or_else(|| accepted.iter().find(|pc| plain(&item.transfer_syntax) && plain(&clean(&pc.transfer_syntax))));
        let Some(pc) = chosen.cloned() else {
            let _ = association.abort();
            return Err(fail(&format!("it accepts no way to send {} ({})", item.path.display(), item.sop_class)));
        };
        let pc_ts = pc.transfer_syntax.trim_end_matches('\0').to_owned();
        let data = if pc_ts == item.transfer_syntax {
            item.data.clone()
        } else {
            // A plain little endian file sent in the other plain syntax.
            let ts_from = dicom::transfer_syntax::TransferSyntaxRegistry.get(&item.transfer_syntax);
            let ts_to = dicom::transfer_syntax::TransferSyntaxRegistry.get(&pc_ts);
            let (Some(from), Some(to)) = (ts_from, ts_to) else { return Err(fail(&"no transfer syntax")) };
            let object = InMemDicomObject::read_dataset_with_ts(item.data.as_slice(), from).map_err(|e| fail(&e))?;
            let mut bytes = Vec::new();
            object.write_dataset_with_ts(&mut bytes, to).map_err(|e| fail(&e))?;
            bytes
        };
        let command = command_value(
            pc.id,
            vec![
                DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from(item.sop_class.as_str())),
                DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
                DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from((n % 65535 + 1) as u16)),
                DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
                DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0x0000u16)),
                DataElement::new(
                    tags::AFFECTED_SOP_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(item.sop_instance.as_str()),
                ),
            ],
        );
        association.send(&Pdu::PData { data: vec![command] }).map_err(|e| fail(&e))?;
        // The data set in fragments that fit the peer's PDUs.
        let chunk = max_pdu.saturating_sub(12).max(1024);
        let mut parts = data.chunks(chunk).peekable();
        while let Some(part) = parts.next() {
            association
                .send(&Pdu::PData {
                    data: vec![PDataValue {
                        presentation_context_id: pc.id,
                        value_type: PDataValueType::Data,
                        is_last: parts.peek().is_none(),
                        data: part.to_vec(),
                    }],
                })
                .map_err(|e| fail(&e))?;
        }
        let reply = association.receive().map_err(|e| fail(&e))?;
        match status_of(&reply) {
            // Success, and the warnings (coercion, elements discarded) that still store it.
            Some(0x0000 | 0x0001 | 0xB000 | 0xB006 | 0xB007) => {}
            Some(status) => {
                let _ = association.abort();
                return Err(ScuError::Refused { node: name.clone(), path: item.path.clone(), status });
            }
            None => {
                let _ = association.abort();
                return Err(fail(&"no C-STORE response"));
            }
        }
        progress.advance(1);
    }
    let _ = association.release();
    Ok(items.len())
}
