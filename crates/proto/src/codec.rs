//! Whole messages (request bodies, events, responses) to and from bytes, in either
//! content type, with the checks Mesos makes on what it parses.

use prost_reflect::{DynamicMessage, ReflectMessage};

use crate::content_type::ContentType;
use crate::json::{self, JsonError};
use crate::validate;

/// Why a body does not decode into a message (Mesos answers each with `400`).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Not the protobuf encoding of the message.
    #[error("failed to parse body into {message_type} protobuf: {source}")]
    Protobuf {
        /// The message's full name, e.g. `mesos.v1.scheduler.Call`.
        message_type: String,
        /// prost's reason.
        #[source]
        source: prost::DecodeError,
    },
    /// Not JSON.
    #[error("failed to parse body into JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// JSON that does not map onto the message.
    #[error("failed to convert JSON into {message_type} protobuf: {source}")]
    JsonMapping {
        /// The message's full name.
        message_type: String,
        /// Where and why.
        #[source]
        source: JsonError,
    },
    /// A required field is missing.
    #[error(transparent)]
    NotInitialized(#[from] NotInitialized),
}

/// A message with required fields unset or enum fields holding undefined numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message_type} is not initialized: {}", describe(.missing, .undefined_enum_values))]
pub struct NotInitialized {
    /// The message's full name.
    pub message_type: String,
    /// Paths of the unset required fields, e.g. `subscribe.framework_info.user`.
    pub missing: Vec<String>,
    /// Paths of enum fields holding a number their enum does not define (never set
    /// by [`decode`], which drops such numbers as Mesos does).
    pub undefined_enum_values: Vec<String>,
}

fn describe(missing: &[String], undefined: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing required fields {}", missing.join(", ")));
    }
    if !undefined.is_empty() {
        parts.push(format!("undefined enum values in {}", undefined.join(", ")));
    }
    parts.join("; ")
}

/// Decodes a body into `M` as Mesos would: protobuf, or JSON by Mesos' rules
/// ([`crate::json`]); undefined enum numbers dropped; every required field present,
/// recursively, or [`CodecError::NotInitialized`].
pub fn decode<M: ReflectMessage + Default>(
    body: &[u8],
    content_type: ContentType,
) -> Result<M, CodecError> {
    let descriptor = M::default().descriptor();
    let message_type = || descriptor.full_name().to_owned();
    let mut message = match content_type {
        ContentType::Protobuf => {
            DynamicMessage::decode(descriptor.clone(), body).map_err(|source| {
                CodecError::Protobuf {
                    message_type: message_type(),
                    source,
                }
            })?
        }
        ContentType::Json => {
            let json: serde_json::Value = serde_json::from_slice(body).map_err(CodecError::Json)?;
            json::message_from_json(&descriptor, &json).map_err(|source| {
                CodecError::JsonMapping {
                    message_type: message_type(),
                    source,
                }
            })?
        }
    };
    validate::clear_undefined_enum_values(&mut message);
    let missing = validate::missing_required_fields(&message);
    if !missing.is_empty() {
        let undefined_enum_values = Vec::new();
        return Err(NotInitialized {
            message_type: message_type(),
            missing,
            undefined_enum_values,
        }
        .into());
    }
    message
        .transcode_to::<M>()
        .map_err(|source| CodecError::Protobuf {
            message_type: message_type(),
            source,
        })
}

/// Encodes `message` in `content_type` (JSON by Mesos' rules, [`crate::json`]).
pub fn encode<M: ReflectMessage>(message: &M, content_type: ContentType) -> Vec<u8> {
    match content_type {
        ContentType::Protobuf => message.encode_to_vec(),
        ContentType::Json => to_json(message).to_string().into_bytes(),
    }
}

/// `message` as a JSON value, by Mesos' rules.
pub fn to_json<M: ReflectMessage>(message: &M) -> serde_json::Value {
    json::message_to_json(&message.transcode_to_dynamic())
}

/// A JSON value as an `M`, with the checks of [`decode`].
pub fn from_json<M: ReflectMessage + Default>(json: &serde_json::Value) -> Result<M, CodecError> {
    decode(json.to_string().as_bytes(), ContentType::Json)
}

/// Checks a message before it is sent: every required field set, recursively, and
/// every enum number defined (mesos-go's decoder refuses a message that is not).
///
/// A message built from prost types always has its required fields on the wire
/// (prost writes them even when they hold their default), so in practice this finds
/// undefined enum numbers; it is for tests and for messages built dynamically.
pub fn check_initialized<M: ReflectMessage>(message: &M) -> Result<(), NotInitialized> {
    let dynamic = message.transcode_to_dynamic();
    let missing = validate::missing_required_fields(&dynamic);
    let undefined_enum_values = validate::undefined_enum_values(&dynamic);
    if missing.is_empty() && undefined_enum_values.is_empty() {
        return Ok(());
    }
    let message_type = dynamic.descriptor().full_name().to_owned();
    Err(NotInitialized {
        message_type,
        missing,
        undefined_enum_values,
    })
}
