//! Query and retrieve from a PACS as the calling side (Study Root): C-FIND at study or series
//! level, and C-MOVE of a study or series to twinplan's own storage service, which the PACS
//! knows by its AE title.

use dicom::core::{DataElement, PrimitiveValue, Tag, VR};
use dicom::dictionary_std::tags;
use dicom::object::InMemDicomObject;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use serde::Serialize;

use super::scu::ScuError;
use super::{Node, command_value, implicit, text};
use crate::core::progress::Progress;

const FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
const MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
const PLAIN: [&str; 2] = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"];

/// What to find.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// "STUDY" or "SERIES".
    pub level: Level,
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    /// Required at series level: the study whose series are listed.
    pub study_uid: Option<String>,
    pub modality: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Level {
    #[default]
    Study,
    Series,
}

/// One match, as the PACS described it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Found {
    pub patient_id: String,
    pub patient_name: String,
    pub study_uid: String,
    pub study_date: String,
    pub study_description: String,
    /// At series level.
    pub series_uid: String,
    pub modality: String,
    pub series_description: String,
    /// Instances in the study or series, where the PACS says.
    pub instances: Option<u32>,
}

/// The outcome of a C-MOVE: sub-operations completed, failed and with warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Moved {
    pub completed: u32,
    pub failed: u32,
    pub warning: u32,
}

type Association = dicom_ul::ClientAssociation<std::net::TcpStream>;

fn number(object: &InMemDicomObject, tag: Tag) -> Option<u32> {
    object.element(tag).ok()?.to_int::<u32>().ok()
}

fn connect(node: &Node, calling: &str, class: &str) -> Result<Association, ScuError> {
    let timeout = std::time::Duration::from_secs(60);
    dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title(calling)
        .called_ae_title(node.ae_title.as_str())
        .with_presentation_context(class, PLAIN.to_vec())
        .read_timeout(timeout)
        .write_timeout(timeout)
        .connection_timeout(timeout)
        .establish((node.host.as_str(), node.port))
        .map_err(|e| ScuError::Associate { node: node.to_string(), error: e.to_string() })
}

/// The association's one presentation context: its id and transfer syntax.
fn context(
    association: &Association,
    node: &Node,
) -> Result<(u8, &'static dicom::transfer_syntax::TransferSyntax), ScuError> {
    let fail = |e: &str| ScuError::Transfer { node: node.to_string(), error: e.to_owned() };
    let pc = association.presentation_contexts().first().ok_or_else(|| fail("no presentation context"))?;
    let ts = dicom::encoding::TransferSyntaxIndex::get(
        &dicom::transfer_syntax::TransferSyntaxRegistry,
        pc.transfer_syntax.trim_end_matches('\0'),
    )
    .ok_or_else(|| fail("an unknown transfer syntax"))?;
    Ok((pc.id, ts))
}

/// Sends a request: its command, and the identifier in the context's transfer syntax.
fn request(
    association: &mut Association,
    node: &Node,
    command: Vec<DataElement<InMemDicomObject>>,
    identifier: &InMemDicomObject,
) -> Result<(), ScuError> {
    let fail = |e: &dyn std::fmt::Display| ScuError::Transfer { node: node.to_string(), error: e.to_string() };
    let (id, ts) = context(association, node)?;
    let mut data = Vec::new();
    identifier.write_dataset_with_ts(&mut data, ts).map_err(|e| fail(&e))?;
    let identifier = PDataValue { presentation_context_id: id, value_type: PDataValueType::Data, is_last: true, data };
    association.send(&Pdu::PData { data: vec![command_value(id, command), identifier] }).map_err(|e| fail(&e))
}

/// Receives one message: its command and, when it has one, its data set.
fn message(
    association: &mut Association,
    node: &Node,
) -> Result<(InMemDicomObject, Option<InMemDicomObject>), ScuError> {
    let fail = |e: &dyn std::fmt::Display| ScuError::Transfer { node: node.to_string(), error: e.to_string() };
    let (mut command, mut data) = (Vec::new(), Vec::new());
    let mut parsed: Option<InMemDicomObject> = None;
    loop {
        let pdu = association.receive().map_err(|e| fail(&e))?;
        let Pdu::PData { data: values } = pdu else {
            return Err(fail(&format!("it sent {} instead of a response", pdu.short_description())));
        };
        for value in values {
            match value.value_type {
                PDataValueType::Command => {
                    command.extend_from_slice(&value.data);
                    if value.is_last {
                        let c = InMemDicomObject::read_dataset_with_ts(command.as_slice(), &implicit())
                            .map_err(|e| fail(&e))?;
                        let has_data = c.element(tags::COMMAND_DATA_SET_TYPE).ok().and_then(|e| e.to_int::<u16>().ok())
                            != Some(0x0101);
                        if !has_data {
                            return Ok((c, None));
                        }
                        parsed = Some(c);
                    }
                }
                PDataValueType::Data => {
                    data.extend_from_slice(&value.data);
                    if value.is_last {
                        let c = parsed.take().ok_or_else(|| fail(&"a data set before its command"))?;
                        let (_, ts) = context(association, node)?;
                        let d = InMemDicomObject::read_dataset_with_ts(data.as_slice(), ts).map_err(|e| fail(&e))?;
                        return Ok((c, Some(d)));
                    }
                }
            }
        }
    }
}

fn status(command: &InMemDicomObject) -> u16 {
    command.element(tags::STATUS).ok().and_then(|e| e.to_int::<u16>().ok()).unwrap_or(0xFFFF)
}

fn identifier(query: &Query, level: &str) -> InMemDicomObject {
    let mut id = InMemDicomObject::new_empty();
    let mut put = |tag, vr, value: &str| id.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    put(tags::QUERY_RETRIEVE_LEVEL, VR::CS, level);
    put(tags::PATIENT_ID, VR::LO, query.patient_id.as_deref().unwrap_or(""));
    put(tags::PATIENT_NAME, VR::PN, query.patient_name.as_deref().unwrap_or(""));
    put(tags::STUDY_INSTANCE_UID, VR::UI, query.study_uid.as_deref().unwrap_or(""));
    put(tags::STUDY_DATE, VR::DA, "");
    put(tags::STUDY_DESCRIPTION, VR::LO, "");
    match query.level {
        Level::Study => {
            put(tags::MODALITIES_IN_STUDY, VR::CS, query.modality.as_deref().unwrap_or(""));
            put(tags::NUMBER_OF_STUDY_RELATED_INSTANCES, VR::IS, "");
        }
        Level::Series => {
            put(tags::SERIES_INSTANCE_UID, VR::UI, "");
            put(tags::MODALITY, VR::CS, query.modality.as_deref().unwrap_or(""));
            put(tags::SERIES_DESCRIPTION, VR::LO, "");
            put(tags::NUMBER_OF_SERIES_RELATED_INSTANCES, VR::IS, "");
        }
    }
    id
}

/// Asks `node` (C-FIND, Study Root) for the studies or series matching `query`.
pub fn find(node: &Node, calling: &str, query: &Query, progress: &Progress) -> Result<Vec<Found>, ScuError> {
    if query.level == Level::Series && query.study_uid.as_deref().is_none_or(str::is_empty) {
        return Err(ScuError::Transfer {
            node: node.to_string(),
            error: "a series query needs the study's UID".into(),
        });
    }
    let mut association = connect(node, calling, FIND)?;
    let level = if query.level == Level::Study { "STUDY" } else { "SERIES" };
    let command = vec![
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from(FIND)),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0020u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0x0000u16)),
    ];
    request(&mut association, node, command, &identifier(query, level))?;
    progress.begin("Querying", 0);
    let mut found = Vec::new();
    loop {
        if let Err(cancelled) = progress.check() {
            let _ = association.abort();
            return Err(cancelled.into());
        }
        let (command, data) = message(&mut association, node)?;
        match status(&command) {
            0xFF00 | 0xFF01 => {
                if let Some(d) = data {
                    let instances = number(&d, tags::NUMBER_OF_STUDY_RELATED_INSTANCES)
                        .or_else(|| number(&d, tags::NUMBER_OF_SERIES_RELATED_INSTANCES));
                    found.push(Found {
                        patient_id: text(&d, tags::PATIENT_ID),
                        patient_name: text(&d, tags::PATIENT_NAME),
                        study_uid: text(&d, tags::STUDY_INSTANCE_UID),
                        study_date: text(&d, tags::STUDY_DATE),
                        study_description: text(&d, tags::STUDY_DESCRIPTION),
                        series_uid: text(&d, tags::SERIES_INSTANCE_UID),
                        modality: [text(&d, tags::MODALITY), text(&d, tags::MODALITIES_IN_STUDY)].concat(),
                        series_description: text(&d, tags::SERIES_DESCRIPTION),
                        instances,
                    });
                    progress.advance(1);
                }
            }
            0x0000 => break,
            s => {
                let _ = association.abort();
                return Err(ScuError::Transfer {
                    node: node.to_string(),
                    error: format!("C-FIND failed with status {s:#06x}"),
                });
            }
        }
    }
    let _ = association.release();
    Ok(found)
}

/// Asks `node` (C-MOVE, Study Root) to send a study, or one of its series, to the AE title
/// `destination` (twinplan's storage service, which must be listening and known to the PACS).
/// Cancelling sends C-CANCEL and stops waiting.
pub fn retrieve(
    node: &Node,
    calling: &str,
    destination: &str,
    study_uid: &str,
    series_uid: Option<&str>,
    progress: &Progress,
) -> Result<Moved, ScuError> {
    let mut association = connect(node, calling, MOVE)?;
    let mut id = InMemDicomObject::new_empty();
    id.put(DataElement::new(
        tags::QUERY_RETRIEVE_LEVEL,
        VR::CS,
        PrimitiveValue::from(if series_uid.is_some() { "SERIES" } else { "STUDY" }),
    ));
    id.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, PrimitiveValue::from(study_uid)));
    if let Some(series) = series_uid {
        id.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from(series)));
    }
    let command = vec![
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from(MOVE)),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0021u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(tags::MOVE_DESTINATION, VR::AE, PrimitiveValue::from(destination)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0x0000u16)),
    ];
    request(&mut association, node, command, &id)?;
    progress.begin("Retrieving", 0);
    loop {
        if let Err(cancelled) = progress.check() {
            let _ = association.abort();
            return Err(cancelled.into());
        }
        let (command, _) = message(&mut association, node)?;
        let counts = Moved {
            completed: number(&command, tags::NUMBER_OF_COMPLETED_SUBOPERATIONS).unwrap_or(0),
            failed: number(&command, tags::NUMBER_OF_FAILED_SUBOPERATIONS).unwrap_or(0),
            warning: number(&command, tags::NUMBER_OF_WARNING_SUBOPERATIONS).unwrap_or(0),
        };
        match status(&command) {
            0xFF00 => {
                let remaining = number(&command, tags::NUMBER_OF_REMAINING_SUBOPERATIONS).unwrap_or(0);
                progress.begin("Retrieving", u64::from(counts.completed + counts.failed + counts.warning + remaining));
                progress.advance(u64::from(counts.completed + counts.failed + counts.warning));
            }
            0x0000 | 0xB000 => {
                let _ = association.release();
                return Ok(counts);
            }
            s => {
                let _ = association.abort();
                return Err(ScuError::Transfer {
                    node: node.to_string(),
                    error: format!(
                        "C-MOVE failed with status {s:#06x} ({} completed, {} failed)",
                        counts.completed, counts.failed
                    ),
                });
            }
        }
    }
}

/// Retrieves a study or series into `store`: twinplan's storage service listens on
/// `bind:port` as `ae` while the PACS sends (C-MOVE to `ae`), then stops. When the address is
/// taken (the service already runs there, as in the workstation while receiving), the move is
/// asked all the same and that service receives: the flag says whether this call listened.
#[allow(clippy::too_many_arguments)]
pub fn retrieve_into(
    store: std::sync::Arc<super::store::Store>,
    node: &Node,
    ae: &str,
    bind: &str,
    port: u16,
    study_uid: &str,
    series_uid: Option<&str>,
    progress: &Progress,
) -> Result<(Moved, bool), ScuError> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let service = std::net::TcpListener::bind((bind, port)).ok().map(|listener| {
        let config = super::scp::Config { ae_title: ae.to_owned(), ..super::scp::Config::default() };
        let stop = stop.clone();
        std::thread::spawn(move || super::scp::serve(listener, config, store, stop, Arc::new(|_| {})))
    });
    let moved = retrieve(node, ae, ae, study_uid, series_uid, progress);
    stop.store(true, Ordering::Relaxed);
    let listened = service.is_some();
    if let Some(service) = service {
        let _ = service.join();
    }
    Ok((moved?, listened))
}
