//! The storage service: answers C-ECHO and receives C-STORE into the local store, as a PACS or
//! a scanner sends studies. Each association is served on its own thread, up to a limit; what
//! a peer sends is only ever stored as data, never run. An association that aborts, breaks
//! its PDUs or sends more than the object size limit is dropped, and nothing of its unfinished
//! object is kept.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use dicom::core::{DataElement, PrimitiveValue, VR};
use dicom::dictionary_std::tags;
use dicom::encoding::TransferSyntaxIndex;
use dicom::object::InMemDicomObject;
use dicom::transfer_syntax::TransferSyntaxRegistry;
use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{AssociationRJServiceUserReason, PDataValueType, Pdu, UserIdentity};

use super::store::{Put, Store, describe};
use super::{command_value, implicit, text};

/// The storage SOP classes received (what twinplan opens or makes), and Verification.
pub const ACCEPTED_CLASSES: [&str; 11] = [
    "1.2.840.10008.1.1",             // Verification
    "1.2.840.10008.5.1.4.1.1.2",     // CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",   // Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",     // MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",   // Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.128",   // PET Image
    "1.2.840.10008.5.1.4.1.1.66.4",  // Segmentation
    "1.2.840.10008.5.1.4.1.1.481.3", // RT Structure Set
    "1.2.840.10008.5.1.4.1.1.104.1", // Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.88.33", // Comprehensive SR
];

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The service's AE title: associations calling another are refused.
    pub ae_title: String,
    /// When not empty, only these calling AE titles are served.
    pub allowed_callers: Vec<String>,
    /// Associations served at once; more are refused until one ends.
    pub max_associations: usize,
    /// The largest PDU received (bytes).
    pub max_pdu_bytes: u32,
    /// The largest object received (bytes); a larger one aborts its association.
    pub max_object_bytes: usize,
    /// How long a silent peer is waited for.
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ae_title: "TWINPLAN".into(),
            allowed_callers: Vec::new(),
            max_associations: 8,
            max_pdu_bytes: 64 * 1024,
            max_object_bytes: 2 << 30,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What happened, for the log the user sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Associated { caller: String },
    Refused { reason: String },
    Stored { caller: String, sop_instance_uid: String, duplicate: bool },
    Failed { caller: String, reason: String },
    Released { caller: String, stored: usize },
}

/// The called AE title must be ours, and the caller one of the allowed when a list is set.
struct Titles {
    allowed: Vec<String>,
}

impl AccessControl for Titles {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a.trim() == calling_ae_title.trim()) {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// Serves associations on `listener` until `stop` is set, calling `event` for what happens.
pub fn serve(
    listener: TcpListener,
    config: Config,
    store: Arc<Store>,
    stop: Arc<AtomicBool>,
    event: Arc<dyn Fn(Event) + Send + Sync>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let active = Arc::new(AtomicUsize::new(0));
    let config = Arc::new(config);
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => {
                event(Event::Refused { reason: format!("accepting a connection: {e}") });
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= config.max_associations {
            event(Event::Refused { reason: format!("{} associations already served", config.max_associations) });
            drop(stream);
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (config, store, event, active) = (config.clone(), store.clone(), event.clone(), active.clone());
        std::thread::spawn(move || {
            associate(stream, &config, &store, event.as_ref());
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

/// One association, from its request to its release or abort.
fn associate(stream: TcpStream, config: &Config, store: &Store, event: &(dyn Fn(Event) + Send + Sync)) {
    let _ = stream.set_nonblocking(false);
    // Small responses go out at once rather than waiting on the peer's delayed acknowledgement.
    let _ = stream.set_nodelay(true);
    let mut options = dicom_ul::association::ServerAssociationOptions::new()
        .ae_access_control(Titles { allowed: config.allowed_callers.clone() })
        .ae_title(config.ae_title.as_str())
        .max_pdu_length(config.max_pdu_bytes)
        .read_timeout(config.timeout)
        .write_timeout(config.timeout);
    for class in ACCEPTED_CLASSES {
        options = options.with_abstract_syntax(class);
    }
    // The transfer syntaxes whose data sets and pixel data twinplan decodes.
    for ts in TransferSyntaxRegistry.iter().filter(|ts| ts.can_decode_all()) {
        options = options.with_transfer_syntax(ts.uid());
    }
    let mut association = match options.establish(stream) {
        Ok(a) => a,
        Err(e) => {
            event(Event::Refused { reason: e.to_string() });
            return;
        }
    };
    let caller = dicom_ul::association::Association::peer_ae_title(&association).to_owned();
    event(Event::Associated { caller: caller.clone() });
    let mut stored = 0;
    // The object being received: its command and context, and its file as it grows: the
    // preamble and file meta information first (`prefix` bytes), then the data set.
    let mut pending: Option<(InMemDicomObject, u8, Result<usize, Refusal>)> = None;
    let mut data: Vec<u8> = Vec::new();
    let mut command_bytes: Vec<u8> = Vec::new();
    loop {
        let pdu = match association.receive() {
            Ok(pdu) => pdu,
            Err(e) => {
                event(Event::Failed { caller: caller.clone(), reason: format!("the association broke: {e}") });
                return;
            }
        };
        match pdu {
            Pdu::PData { data: values } => {
                for value in values {
                    let context = value.presentation_context_id;
                    match value.value_type {
                        PDataValueType::Command => {
                            // A command may come in several fragments.
                            command_bytes.extend_from_slice(&value.data);
                            if !value.is_last {
                                continue;
                            }
                            let command = InMemDicomObject::read_dataset_with_ts(command_bytes.as_slice(), &implicit());
                            command_bytes.clear();
                            let Ok(command) = command else {
                                event(Event::Failed { caller: caller.clone(), reason: "an unreadable command".into() });
                                let _ = association.abort();
                                return;
                            };
                            let field = command.element(tags::COMMAND_FIELD).ok().and_then(|e| e.to_int::<u16>().ok());
                            match field {
                                Some(0x0030) => {
                                    let reply = response(&command, 0x8030, 0x0000);
                                    if send_command(&mut association, context, reply).is_err() {
                                        return;
                                    }
                                }
                                Some(0x0001) => {
                                    data.clear();
                                    let ts = association
                                        .presentation_contexts()
                                        .iter()
                                        .find(|pc| pc.id == context)
                                        .map(|pc| pc.transfer_syntax.trim_end_matches('\0').to_owned())
                                        .unwrap_or_default();
                                    let prefix = file_prefix(&command, &ts, &mut data);
                                    pending = Some((command, context, prefix));
                                }
                                _ => {
                                    // Not a service offered here: "unrecognised operation".
                                    let reply = response(&command, field.unwrap_or(0) | 0x8000, 0x0211);
                                    if send_command(&mut association, context, reply).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                        PDataValueType::Data => {
                            let prefix = pending.as_ref().and_then(|p| p.2.as_ref().ok().copied()).unwrap_or(0);
                            if data.len().saturating_sub(prefix) + value.data.len() > config.max_object_bytes {
                                event(Event::Failed {
                                    caller: caller.clone(),
                                    reason: format!(
                                        "an object over {} bytes: the association is aborted",
                                        config.max_object_bytes
                                    ),
                                });
                                let _ = association.abort();
                                return;
                            }
                            data.extend_from_slice(&value.data);
                            if value.is_last {
                                let Some((command, context, prefix)) = pending.take() else {
                                    event(Event::Failed {
                                        caller: caller.clone(),
                                        reason: "data without a command".into(),
                                    });
                                    let _ = association.abort();
                                    return;
                                };
                                let status = match prefix.and_then(|_| receive(&command, &data, store)) {
                                    Ok(put) => {
                                        stored += 1;
                                        event(Event::Stored {
                                            caller: caller.clone(),
                                            sop_instance_uid: text(&command, tags::AFFECTED_SOP_INSTANCE_UID),
                                            duplicate: put == Put::Duplicate,
                                        });
                                        0x0000
                                    }
                                    Err((status, reason)) => {
                                        event(Event::Failed { caller: caller.clone(), reason });
                                        status
                                    }
                                };
                                data.clear();
                                if send_command(&mut association, context, response(&command, 0x8001, status)).is_err()
                                {
                                    return;
                                }
                            }
                        }
                    }
                }
            }
            Pdu::ReleaseRQ => {
                let _ = association.send(&Pdu::ReleaseRP);
                event(Event::Released { caller, stored });
                return;
            }
            Pdu::AbortRQ { .. } => {
                event(Event::Failed { caller, reason: "the peer aborted the association".into() });
                return;
            }
            other => {
                event(Event::Failed {
                    caller: caller.clone(),
                    reason: format!("unexpected {}", other.short_description()),
                });
                let _ = association.abort();
                return;
            }
        }
    }
}

/// A C-STORE status other than success, and why.
type Refusal = (u16, String);

/// Starts a received object's file in `file`: the preamble and the file meta information for
/// the command's SOP class and instance in transfer syntax `ts_uid`; returns its length.
fn file_prefix(command: &InMemDicomObject, ts_uid: &str, file: &mut Vec<u8>) -> Result<usize, Refusal> {
    let sop_instance = text(command, tags::AFFECTED_SOP_INSTANCE_UID);
    if TransferSyntaxRegistry.get(ts_uid).is_none() {
        return Err((0xC000, format!("{sop_instance}: transfer syntax {ts_uid} unknown")));
    }
    let meta = dicom::object::meta::FileMetaTableBuilder::new()
        .transfer_syntax(ts_uid)
        .media_storage_sop_class_uid(text(command, tags::AFFECTED_SOP_CLASS_UID))
        .media_storage_sop_instance_uid(sop_instance.as_str())
        .implementation_class_uid(crate::core::dicom::write::uid_from_name("twinplan implementation"))
        .implementation_version_name("TWINPLAN_1")
        .build()
        .map_err(|e| (0xC000, format!("{sop_instance}: {e}")))?;
    file.extend_from_slice(&[0u8; 128]);
    file.extend_from_slice(b"DICM");
    meta.write(&mut *file).map_err(|e| (0xA700, format!("{sop_instance}: {e}")))?;
    Ok(file.len())
}

/// Stores one received object's `file` (its prefix and data set): read as any file is (lengths
/// checked first) up to the pixel data, to know where it belongs and that it is whole, and
/// written as it came. On failure the C-STORE status and why.
fn receive(command: &InMemDicomObject, file: &[u8], store: &Store) -> Result<Put, Refusal> {
    let sop_instance = text(command, tags::AFFECTED_SOP_INSTANCE_UID);
    let parsed = crate::core::dicom::read_object(file, std::path::Path::new(&sop_instance), true)
        .map_err(|e| (0xC000, format!("the data set cannot be read: {e}")))?;
    let entry = describe(&parsed.object).unwrap_or_default();
    if entry.sop_instance_uid != sop_instance {
        return Err((
            0xC000,
            format!("{sop_instance}: the data set's SOP Instance UID is '{}'", entry.sop_instance_uid),
        ));
    }
    store.put(&entry, file).map_err(|e| (0xA700, e.to_string()))
}

/// The response to `command` (`field`: its response command), with `status`.
fn response(command: &InMemDicomObject, field: u16, status: u16) -> Vec<DataElement<InMemDicomObject>> {
    let id = command.element(tags::MESSAGE_ID).ok().and_then(|e| e.to_int::<u16>().ok()).unwrap_or(0);
    let mut elements = vec![
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(field)),
        DataElement::new(tags::MESSAGE_ID_BEING_RESPONDED_TO, VR::US, PrimitiveValue::from(id)),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, PrimitiveValue::from(0x0101u16)),
        DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(status)),
    ];
    for tag in [tags::AFFECTED_SOP_CLASS_UID, tags::AFFECTED_SOP_INSTANCE_UID] {
        let value = text(command, tag);
        if !value.is_empty() {
            elements.push(DataElement::new(tag, VR::UI, PrimitiveValue::from(value)));
        }
    }
    elements
}

fn send_command<S: std::io::Read + std::io::Write + dicom_ul::association::CloseSocket>(
    association: &mut dicom_ul::ServerAssociation<S>,
    context: u8,
    command: Vec<DataElement<InMemDicomObject>>,
) -> Result<(), ()> {
    association.send(&Pdu::PData { data: vec![command_value(context, command)] }).map_err(|_| ())
}
