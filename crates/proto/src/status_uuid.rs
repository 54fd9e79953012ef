//! The 16-byte uuids of status updates (`TaskStatus.uuid`, `Call.Acknowledge.uuid`)
//! and of operation updates (`mesos.v1.UUID`).

pub use uuid::Uuid;

use crate::v1;

/// An acknowledgement's uuid that is not 16 bytes (Mesos answers `400`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a status update uuid must be 16 bytes, not {0}")]
pub struct InvalidStatusUuid(pub usize);

/// The bytes to put in `TaskStatus.uuid`.
pub fn status_uuid_bytes(uuid: Uuid) -> Vec<u8> {
    uuid.as_bytes().to_vec()
}

/// Reads the uuid of an ACKNOWLEDGE (or of a `TaskStatus`): exactly 16 bytes.
pub fn parse_status_uuid(bytes: &[u8]) -> Result<Uuid, InvalidStatusUuid> {
    Uuid::from_slice(bytes).map_err(|_| InvalidStatusUuid(bytes.len()))
}

impl From<Uuid> for v1::Uuid {
    fn from(uuid: Uuid) -> Self {
        v1::Uuid {
            value: status_uuid_bytes(uuid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_uuids_are_sixteen_bytes() {
        let uuid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let bytes = status_uuid_bytes(uuid);
        assert_eq!(bytes, (1..=16).collect::<Vec<u8>>());
        assert_eq!(parse_status_uuid(&bytes), Ok(uuid));
        assert_eq!(parse_status_uuid(&bytes[..15]), Err(InvalidStatusUuid(15)));
        assert_eq!(parse_status_uuid(&[0; 17]), Err(InvalidStatusUuid(17)));
        assert_eq!(parse_status_uuid(b""), Err(InvalidStatusUuid(0)));
        assert_eq!(v1::Uuid::from(uuid).value, bytes);
    }
}
