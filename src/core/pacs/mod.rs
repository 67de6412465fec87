//! DICOM networking for the hospital: a storage service that receives studies into the local
//! store (`scp`, `store`), and sending twinplan's DICOM outputs or any files (`scu`). Built on
//! dicom-rs's upper layer (`dicom-ul`): the PDUs are the crate's, not written here.

pub mod query;
pub mod scp;
pub mod scu;
pub mod store;

/// Implicit VR little endian: the transfer syntax of every DIMSE command.
pub(crate) fn implicit() -> dicom::transfer_syntax::TransferSyntax {
    dicom::transfer_syntax::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased()
}

/// A command (its group length computed) as the last P-DATA value of its message part.
pub(crate) fn command_value(
    context: u8,
    elements: Vec<dicom::core::DataElement<dicom::object::InMemDicomObject>>,
) -> dicom_ul::pdu::PDataValue {
    let mut data = Vec::new();
    dicom::object::InMemDicomObject::command_from_element_iter(elements)
        .write_dataset_with_ts(&mut data, &implicit())
        .expect("a command writes to memory");
    dicom_ul::pdu::PDataValue {
        presentation_context_id: context,
        value_type: dicom_ul::pdu::PDataValueType::Command,
        is_last: true,
        data,
    }
}

/// An attribute's text, without DICOM's padding; empty when absent.
pub(crate) fn text(object: &dicom::object::InMemDicomObject, tag: dicom::core::Tag) -> String {
    object
        .element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches('\0').trim().to_owned())
        .unwrap_or_default()
}

/// A peer: its AE title, host and port, written `AE@HOST:PORT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub ae_title: String,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.ae_title, self.host, self.port)
    }
}

/// Checks an AE title: 1 to 16 characters of printable ASCII other than backslash, not all
/// spaces (DICOM PS3.5's AE value representation).
pub fn check_ae_title(title: &str) -> Result<(), String> {
    let t = title.trim();
    if t.is_empty() || title.len() > 16 || !title.chars().all(|c| c.is_ascii_graphic() && c != '\\' || c == ' ') {
        return Err(format!("'{title}' is not an AE title (1 to 16 printable characters, no backslash)"));
    }
    Ok(())
}

impl std::str::FromStr for Node {
    type Err = String;

    fn from_str(s: &str) -> Result<Node, String> {
        let bad = || format!("'{s}': expected AE@HOST:PORT (for example PACS@10.0.0.5:104)");
        let (ae, address) = s.split_once('@').ok_or_else(bad)?;
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        check_ae_title(ae)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Node { ae_title: ae.to_owned(), host: host.trim_matches(['[', ']']).to_owned(), port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_read_as_written() {
        let n: Node = "PACS@10.0.0.5:104".parse().unwrap();
        assert_eq!(n, Node { ae_title: "PACS".into(), host: "10.0.0.5".into(), port: 104 });
        assert_eq!(n.to_string(), "PACS@10.0.0.5:104");
        assert!("PACS@host".parse::<Node>().is_err());
        assert!("@host:104".parse::<Node>().is_err());
        assert!("A_TITLE_TOO_LONG_FOR_DICOM@h:1".parse::<Node>().is_err());
        assert!("PACS@h:0".parse::<Node>().is_err());
        assert!("BACK\\SLASH@h:104".parse::<Node>().is_err());
    }
}
