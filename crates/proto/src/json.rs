//! Mesos' JSON mapping of protobuf messages, as its `stout` library does it
//! (`JSON::protobuf` for output, `protobuf::parse` for input), over prost-reflect's
//! dynamic messages.
//!
//! This is not proto3's JSON mapping (which prost-reflect's `serde` support
//! implements). Output: proto field names; enums as names; 64-bit integers as numbers;
//! bytes as standard base64 with padding; empty repeated and map fields left out; a
//! set sub-message kept even when empty (`{}`); an unset field with an explicit
//! `[default = …]` written with that default; non-finite doubles as the strings
//! `"Infinity"`, `"-Infinity"` and `"NaN"` (Mesos writes them as bare tokens, which
//! are not JSON). `google.protobuf.Duration` is an ordinary message
//! (`{"seconds":…,"nanos":…}`), as in Mesos.
//!
//! Input: proto field names (camelCase JSON names too); unknown fields ignored;
//! `null` means unset (in arrays too); enums by name only, an unknown name dropped in
//! an optional or repeated field and an error in a required one; numbers for every
//! numeric type, and strings holding a JSON number too (`"5"`, `"1.5"`), doubles also
//! `"Infinity"`/`"-Infinity"`; a fraction in an integer field truncated, as C++'s cast
//! does (a value out of the field's range is an error); bools as `true`/`false` or the
//! strings `"true"`/`"false"`; bytes as base64 (padding optional); a repeated field
//! given a single value takes it as one element, and nested arrays are flattened;
//! maps as objects. Required fields are not checked here (see [`crate::validate`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage as _, Value,
};
use serde_json::{Map, Number, Value as Json};

/// Standard base64, accepting input with or without padding.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a JSON value does not convert into a message, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// The field path, e.g. `subscribe.framework_info.roles[1]` (empty at the top).
    pub path: String,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "field '{}': {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for JsonError {}

impl JsonError {
    fn new(reason: impl Into<String>) -> Self {
        JsonError {
            path: String::new(),
            reason: reason.into(),
        }
    }

    /// The same error seen from the message that holds `field`.
    fn within(mut self, field: &str) -> Self {
        self.path = match self.path.as_str() {
            "" => field.to_owned(),
            rest if rest.starts_with('[') => format!("{field}{rest}"),
            rest => format!("{field}.{rest}"),
        };
        self
    }

    /// The same error seen from the list that holds the element.
    fn at_index(mut self, index: usize) -> Self {
        self.path = match self.path.as_str() {
            "" => format!("[{index}]"),
            rest if rest.starts_with('[') => format!("[{index}]{rest}"),
            rest => format!("[{index}].{rest}"),
        };
        self
    }
}

/// Converts a JSON value into a message of type `descriptor`, by Mesos' rules.
///
/// Required fields may be missing in the result: check them with
/// [`crate::validate::missing_required_fields`].
pub fn message_from_json(
    descriptor: &MessageDescriptor,
    json: &Json,
) -> Result<DynamicMessage, JsonError> {
    match json {
        Json::Object(object) => parse_object(descriptor, object),
        other => Err(JsonError::new(format!(
            "expecting a JSON object, not {}",
            json_kind(other)
        ))),
    }
}

fn parse_object(
    descriptor: &MessageDescriptor,
    object: &Map<String, Json>,
) -> Result<DynamicMessage, JsonError> {
    let mut message = DynamicMessage::new(descriptor.clone());
    for (name, value) in object {
        let field = descriptor
            .get_field_by_name(name)
            .or_else(|| descriptor.get_field_by_json_name(name));
        if let Some(field) = field {
            parse_field(&mut message, &field, value).map_err(|e| e.within(field.name()))?;
        }
    }
    Ok(message)
}

fn parse_field(
    message: &mut DynamicMessage,
    field: &FieldDescriptor,
    json: &Json,
) -> Result<(), JsonError> {
    match json {
        Json::Null => Ok(()),
        Json::Array(items) if field.is_list() || field.is_map() => {
            for (index, item) in items.iter().enumerate() {
                parse_field(message, field, item).map_err(|e| e.at_index(index))?;
            }
            Ok(())
        }
        Json::Array(_) => Err(not_expecting(json)),
        _ if field.is_map() => add_map_entries(message, field, json),
        _ => match parse_value(field, &field.kind(), json)? {
            None => Ok(()),
            Some(value) if field.is_list() => {
                if let Value::List(list) = message.get_field_mut(field) {
                    list.push(value);
                }
                Ok(())
            }
            Some(value) => message
                .try_set_field(field, value)
                .map_err(|e| JsonError::new(e.to_string())),
        },
    }
}

fn add_map_entries(
    message: &mut DynamicMessage,
    field: &FieldDescriptor,
    json: &Json,
) -> Result<(), JsonError> {
    let (Json::Object(object), Kind::Message(entry)) = (json, field.kind()) else {
        return Err(not_expecting(json));
    };
    let key_field = entry.map_entry_key_field();
    let value_field = entry.map_entry_value_field();
    for (name, json_value) in object {
        let key = parse_map_key(&key_field.kind(), name)?;
        let in_entry = |e: JsonError| e.within(&map_key_path(&key));
        let value = parse_value(&value_field, &value_field.kind(), json_value)
            .map_err(in_entry)?
            .unwrap_or_else(|| value_field.default_value());
        if let Value::Map(map) = message.get_field_mut(field) {
            map.insert(key, value);
        }
    }
    Ok(())
}

fn parse_map_key(kind: &Kind, name: &str) -> Result<MapKey, JsonError> {
    if *kind == Kind::String {
        return Ok(MapKey::String(name.to_owned()));
    }
    match scalar_from_string(kind, name, false, &Json::String(name.to_owned()))? {
        Value::Bool(b) => Ok(MapKey::Bool(b)),
        Value::I32(n) => Ok(MapKey::I32(n)),
        Value::I64(n) => Ok(MapKey::I64(n)),
        Value::U32(n) => Ok(MapKey::U32(n)),
        Value::U64(n) => Ok(MapKey::U64(n)),
        _ => Err(JsonError::new(format!("'{name}' is not a valid map key"))),
    }
}

/// Converts one JSON value (not an array) for `field`; `None` when Mesos drops it (an
/// unknown enum name in a field that is not required).
fn parse_value(
    field: &FieldDescriptor,
    kind: &Kind,
    json: &Json,
) -> Result<Option<Value>, JsonError> {
    match (kind, json) {
        (_, Json::Null) => Ok(None),
        (Kind::Message(descriptor), Json::Object(object)) => {
            parse_object(descriptor, object).map(|m| Some(Value::Message(m)))
        }
        (Kind::Enum(enum_type), Json::String(name)) => match enum_type.get_value_by_name(name) {
            Some(value) => Ok(Some(Value::EnumNumber(value.number()))),
            None if field.is_required() => {
                Err(JsonError::new(format!("failed to find enum for '{name}'")))
            }
            None => Ok(None),
        },
        (Kind::String, Json::String(s)) => Ok(Some(Value::String(s.clone()))),
        (Kind::Bytes, Json::String(s)) => BASE64_LENIENT
            .decode(s)
            .map(|bytes| Some(Value::Bytes(bytes.into())))
            .map_err(|e| JsonError::new(format!("failed to base64 decode bytes: {e}"))),
        (Kind::Bool, Json::Bool(b)) => Ok(Some(Value::Bool(*b))),
        (_, Json::Number(number)) if is_numeric(kind) => number_value(kind, number).map(Some),
        (_, Json::String(s)) if is_numeric(kind) || *kind == Kind::Bool => {
            scalar_from_string(kind, s, true, json).map(Some)
        }
        _ => Err(not_expecting(json)),
    }
}

/// A numeric or bool value written as a string: the string must hold a JSON number
/// (or `true`/`false` for a bool); doubles also take `Infinity` and `-Infinity` when
/// `allow_infinity`.
fn scalar_from_string(
    kind: &Kind,
    text: &str,
    allow_infinity: bool,
    json: &Json,
) -> Result<Value, JsonError> {
    let is_float = matches!(kind, Kind::Double | Kind::Float);
    if allow_infinity && is_float && (text == "Infinity" || text == "-Infinity") {
        let infinity = if text == "Infinity" {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
        return Ok(float_value(kind, infinity));
    }
    match (kind, serde_json::from_str::<Json>(text)) {
        (Kind::Bool, Ok(Json::Bool(b))) => Ok(Value::Bool(b)),
        (Kind::Bool, _) => Err(JsonError::new(format!(
            "failed to parse '{text}' as a JSON boolean"
        ))),
        (_, Ok(Json::Number(number))) if is_numeric(kind) => number_value(kind, &number),
        (_, _) if is_numeric(kind) => Err(JsonError::new(format!(
            "failed to parse '{text}' as a JSON number"
        ))),
        _ => Err(not_expecting(json)),
    }
}

fn is_numeric(kind: &Kind) -> bool {
    !matches!(
        kind,
        Kind::Bool | Kind::String | Kind::Bytes | Kind::Message(_) | Kind::Enum(_)
    )
}

fn number_value(kind: &Kind, number: &Number) -> Result<Value, JsonError> {
    if let Kind::Double | Kind::Float = kind {
        let float = number.as_f64().unwrap_or(f64::NAN);
        return Ok(float_value(kind, float));
    }
    let out_of_range =
        || JsonError::new(format!("{number} is out of range for {}", kind_name(kind)));
    let integer = integral(number).ok_or_else(out_of_range)?;
    let value = match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => i32::try_from(integer).ok().map(Value::I32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => i64::try_from(integer).ok().map(Value::I64),
        Kind::Uint32 | Kind::Fixed32 => u32::try_from(integer).ok().map(Value::U32),
        _ => u64::try_from(integer).ok().map(Value::U64),
    };
    value.ok_or_else(out_of_range)
}

fn float_value(kind: &Kind, float: f64) -> Value {
    match kind {
        #[allow(clippy::cast_possible_truncation)]
        Kind::Float => Value::F32(float as f32),
        _ => Value::F64(float),
    }
}

/// A JSON number as an integer, a fraction truncated toward zero (as C++'s cast does).
fn integral(number: &Number) -> Option<i128> {
    if let Some(n) = number.as_i64() {
        return Some(i128::from(n));
    }
    if let Some(n) = number.as_u64() {
        return Some(i128::from(n));
    }
    // `as` saturates, so a huge value stays out of every field's range.
    #[allow(clippy::cast_possible_truncation)]
    number
        .as_f64()
        .filter(|f| f.is_finite())
        .map(|f| f.trunc() as i128)
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Message(_) => "message",
        Kind::Enum(_) => "enum",
    }
}

fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a JSON boolean",
        Json::Number(_) => "a JSON number",
        Json::String(_) => "a JSON string",
        Json::Array(_) => "a JSON array",
        Json::Object(_) => "a JSON object",
    }
}

fn not_expecting(json: &Json) -> JsonError {
    JsonError::new(format!("not expecting {}", json_kind(json)))
}

/// Converts a message into JSON, by Mesos' rules.
pub fn message_to_json(message: &DynamicMessage) -> Json {
    let mut object = Map::new();
    for field in message.descriptor().fields() {
        if let Some(json) = field_to_json(message, &field) {
            object.insert(field.name().to_owned(), json);
        }
    }
    Json::Object(object)
}

fn field_to_json(message: &DynamicMessage, field: &FieldDescriptor) -> Option<Json> {
    let kind = field.kind();
    if field.is_list() || field.is_map() {
        let value = message.get_field(field);
        let empty = match value.as_ref() {
            Value::List(items) => items.is_empty(),
            Value::Map(entries) => entries.is_empty(),
            _ => true,
        };
        (!empty).then(|| value_to_json(&value, &kind))
    } else if message.has_field(field) {
        Some(value_to_json(&message.get_field(field), &kind))
    } else if has_written_default(field) {
        Some(value_to_json(&field.default_value(), &kind))
    } else {
        None
    }
}

/// Mesos writes an unset field that has an explicit default, unless it is deprecated.
fn has_written_default(field: &FieldDescriptor) -> bool {
    let proto = field.field_descriptor_proto();
    let deprecated = proto.options.as_ref().is_some_and(|o| o.deprecated());
    proto.default_value.is_some() && !deprecated
}

fn value_to_json(value: &Value, kind: &Kind) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I32(n) => Json::from(*n),
        Value::I64(n) => Json::from(*n),
        Value::U32(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        // The shortest decimal that reads back as the same f32, not its f64 widening.
        Value::F32(f) => float_to_json(f.to_string().parse().unwrap_or(f64::from(*f))),
        Value::F64(f) => float_to_json(*f),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(bytes) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Value::EnumNumber(number) => enum_to_json(kind, *number),
        Value::Message(message) => message_to_json(message),
        Value::List(items) => Json::Array(items.iter().map(|v| value_to_json(v, kind)).collect()),
        Value::Map(entries) => map_to_json(entries, kind),
    }
}

fn float_to_json(float: f64) -> Json {
    match Number::from_f64(float) {
        Some(number) => Json::Number(number),
        None if float.is_nan() => Json::String("NaN".to_owned()),
        None if float > 0.0 => Json::String("Infinity".to_owned()),
        None => Json::String("-Infinity".to_owned()),
    }
}

fn enum_to_json(kind: &Kind, number: i32) -> Json {
    match kind {
        Kind::Enum(enum_type) => match enum_type.get_value(number) {
            Some(value) => Json::String(value.name().to_owned()),
            None => Json::from(number),
        },
        _ => Json::from(number),
    }
}

fn map_to_json(entries: &std::collections::HashMap<MapKey, Value>, kind: &Kind) -> Json {
    let value_kind = match kind {
        Kind::Message(entry) => entry.map_entry_value_field().kind(),
        other => other.clone(),
    };
    let object = entries
        .iter()
        .map(|(key, value)| (map_key_to_string(key), value_to_json(value, &value_kind)))
        .collect();
    Json::Object(object)
}

/// A map entry in a field path, as protobuf's `FindInitializationErrors` writes it:
/// `["key"]` for a string key, `[7]` otherwise.
pub(crate) fn map_key_path(key: &MapKey) -> String {
    match key {
        MapKey::String(s) => format!("[{s:?}]"),
        other => format!("[{}]", map_key_to_string(other)),
    }
}

fn map_key_to_string(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}
