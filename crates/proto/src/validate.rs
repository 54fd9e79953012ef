//! What prost does not check: proto2 `required` fields and closed enums.
//!
//! prost decodes a message that lacks a required field without complaint (the field
//! keeps its default), and keeps any number in an enum field. Mesos' C++ parser
//! refuses the first (`Not initialized: …`) and drops the second: an enum number the
//! enum does not define goes to the unknown fields, so an optional field reads as
//! unset, a repeated one loses the element and a required one is then missing.
//! mesos-go's decoder enforces required fields recursively too.
//!
//! Paths are written as C++'s `InitializationErrorString` writes them:
//! `subscribe.framework_info.user`, `offers.offers[0].hostname`, and map values by
//! key, `limits["cpus"].value` (as protobuf's own `FindInitializationErrors`).

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage as _, Value};

/// Every required field that is unset, recursively, as field paths.
pub fn missing_required_fields(message: &DynamicMessage) -> Vec<String> {
    let mut missing = Vec::new();
    visit_messages(message, "", &mut |message, path| {
        for field in message.descriptor().fields() {
            if field.is_required() && !message.has_field(&field) {
                missing.push(join(path, field.name()));
            }
        }
    });
    missing
}

/// Every field that holds an enum number its enum does not define, recursively, as
/// field paths (a repeated field's elements by index).
pub fn undefined_enum_values(message: &DynamicMessage) -> Vec<String> {
    let mut undefined = Vec::new();
    visit_messages(message, "", &mut |message, path| {
        for (field, value) in message.fields() {
            let field_path = join(path, field.name());
            match value {
                Value::EnumNumber(n) if !is_defined(&field, *n) => undefined.push(field_path),
                Value::List(items) => {
                    for (index, item) in items.iter().enumerate() {
                        if let Value::EnumNumber(n) = item
                            && !is_defined(&field, *n)
                        {
                            undefined.push(format!("{field_path}[{index}]"));
                        }
                    }
                }
                _ => {}
            }
        }
    });
    undefined
}

/// Drops every enum number its enum does not define, recursively, as Mesos' C++
/// parser does: the field is cleared, or the element removed from a repeated field.
/// (An undefined number as a map value is reset to the enum's default.)
pub fn clear_undefined_enum_values(message: &mut DynamicMessage) {
    let descriptor = message.descriptor();
    for field in descriptor.fields() {
        if !message.has_field(&field) {
            continue;
        }
        let clear = match message.get_field_mut(&field) {
            Value::EnumNumber(n) => !is_defined(&field, *n),
            Value::List(items) => {
                items.retain(
                    |item| !matches!(item, Value::EnumNumber(n) if !is_defined(&field, *n)),
                );
                items.iter_mut().for_each(clear_nested);
                false
            }
            Value::Map(entries) => {
                let value_field = map_value_field(&field);
                for value in entries.values_mut() {
                    reset_undefined_map_value(value, value_field.as_ref());
                    clear_nested(value);
                }
                false
            }
            other => {
                clear_nested(other);
                false
            }
        };
        if clear {
            message.clear_field(&field);
        }
    }
}

fn clear_nested(value: &mut Value) {
    if let Value::Message(message) = value {
        clear_undefined_enum_values(message);
    }
}

fn reset_undefined_map_value(value: &mut Value, value_field: Option<&FieldDescriptor>) {
    if let (Value::EnumNumber(n), Some(field)) = (&*value, value_field)
        && !is_defined(field, *n)
    {
        *value = field.default_value();
    }
}

fn map_value_field(field: &FieldDescriptor) -> Option<FieldDescriptor> {
    match field.kind() {
        Kind::Message(entry) if entry.is_map_entry() => Some(entry.map_entry_value_field()),
        _ => None,
    }
}

fn is_defined(field: &FieldDescriptor, number: i32) -> bool {
    match field.kind() {
        Kind::Enum(enum_type) => enum_type.get_value(number).is_some(),
        _ => true,
    }
}

/// Calls `visit` on `message` and on every message nested in it, with its path.
fn visit_messages(
    message: &DynamicMessage,
    path: &str,
    visit: &mut impl FnMut(&DynamicMessage, &str),
) {
    visit(message, path);
    for (field, value) in message.fields() {
        let field_path = join(path, field.name());
        match value {
            Value::Message(nested) => visit_messages(nested, &field_path, visit),
            Value::List(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Value::Message(nested) = item {
                        visit_messages(nested, &format!("{field_path}[{index}]"), visit);
                    }
                }
            }
            Value::Map(entries) => {
                let mut keys: Vec<&MapKey> = entries.keys().collect();
                keys.sort();
                for key in keys {
                    if let Some(Value::Message(nested)) = entries.get(key) {
                        let entry_path = format!("{field_path}{}", crate::json::map_key_path(key));
                        visit_messages(nested, &entry_path, visit);
                    }
                }
            }
            _ => {}
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}
