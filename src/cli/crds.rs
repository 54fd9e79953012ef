//! The CustomResourceDefinitions, generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    ValidationRule,
};
use kube::CustomResourceExt;

use crate::api::{BatchJob, Framework, Offer, ResourceRole, Task};

/// Every CRD the operator serves, in a stable order, with the file name it has in `crds/`.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        (
            "framework.yaml",
            bounded(kubernetes_formats(Framework::crd())),
        ),
        ("task.yaml", bounded(kubernetes_formats(Task::crd()))),
        ("offer.yaml", bounded(kubernetes_formats(Offer::crd()))),
        (
            "resourcerole.yaml",
            bounded(kubernetes_formats(ResourceRole::crd())),
        ),
        (
            "batchjob.yaml",
            bounded(kubernetes_formats(BatchJob::crd())),
        ),
        (
            "app.yaml",
            bounded(kubernetes_formats(crate::api::app::crd())),
        ),
    ]
}

/// schemars marks unsigned integers `format: uint32`/`uint64`, which the API server does
/// not know (it warns on every apply); Kubernetes spells them `int32`/`int64` with
/// `minimum: 0`, which the schema already carries.
fn kubernetes_formats(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(schema: &mut JSONSchemaProps) {
        // Unsigned 32-bit values do not fit `int32`: spell them `int64` with the type's
        // maximum, so the API server refuses what `u32` cannot hold.
        match schema.format.as_deref() {
            Some("uint32") => {
                schema.format = Some("int64".into());
                schema.maximum.get_or_insert(f64::from(u32::MAX));
            }
            Some("uint16") => {
                schema.format = Some("int32".into());
                schema.maximum.get_or_insert(f64::from(u16::MAX));
            }
            Some("uint8") => {
                schema.format = Some("int32".into());
                schema.maximum.get_or_insert(f64::from(u8::MAX));
            }
            Some("uint64" | "uint") => schema.format = Some("int64".into()),
            Some("int32") => {
                schema.minimum.get_or_insert(f64::from(i32::MIN));
                schema.maximum.get_or_insert(f64::from(i32::MAX));
            }
            _ => {}
        }
        for child in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
            walk(child);
        }
        if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
            walk(items);
        }
        if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
            walk(extra);
        }
        for list in [&mut schema.all_of, &mut schema.any_of, &mut schema.one_of]
            .into_iter()
            .flatten()
        {
            list.iter_mut().for_each(walk);
        }
    }
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            walk(schema);
        }
    }
    crd
}

/// The longest string a field takes when its type sets no bound of its own.
pub const DEFAULT_MAX_LENGTH: i64 = 32_768;
/// The most items a list takes when its type sets no bound of its own.
pub const DEFAULT_MAX_ITEMS: i64 = 1_024;
/// The most entries a map takes when its type sets no bound of its own.
pub const DEFAULT_MAX_PROPERTIES: i64 = 1_024;
/// The most port ranges a user-written resource bag takes (Task resources, quotas,
/// `minAllocatable`): small enough for the quadratic no-overlap rule to stay well within
/// the API server's CEL cost budget.
pub const USER_MAX_PORT_RANGES: i64 = 64;

/// Paths (from the kind's root) of the resource bags users write.
const USER_RESOURCES: [&str; 4] = [
    "spec.resources",
    "spec.offers.minAllocatable",
    "spec.quota.guarantee",
    "spec.quota.limit",
];

/// Bounds every string, list and map (so CEL cost estimates stay within the API server's
/// budget and no field is unbounded), and gives the port lists of user-written resource
/// bags a small bound and a rule against overlapping ranges.
fn bounded(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(schema: &mut JSONSchemaProps, path: &str) {
        let kind = schema.type_.clone().unwrap_or_default();
        let free_form = schema.x_kubernetes_preserve_unknown_fields == Some(true)
            || schema.x_kubernetes_int_or_string == Some(true);
        // Times: the Rust type (jiff) reads years up to 9999-12-30 only, and the API server
        // lets a list through where a date-time is expected (its format check skips
        // lists); a rule makes it evaluate, and so refuse, both.
        if schema.format.as_deref() == Some("date-time") {
            schema
                .x_kubernetes_validations
                .get_or_insert_with(Vec::new)
                .push(ValidationRule {
                    rule: "self < timestamp('9999-12-30T00:00:00Z')".into(),
                    message: Some(format!("{path} must be a time before 9999-12-30")),
                    ..ValidationRule::default()
                });
        }
        match kind.as_str() {
            "string" if schema.enum_.is_none() && schema.format.is_none() => {
                schema.max_length.get_or_insert(DEFAULT_MAX_LENGTH);
            }
            "array" => {
                schema.max_items.get_or_insert(DEFAULT_MAX_ITEMS);
            }
            "object" if !free_form && schema.additional_properties.is_some() => {
                schema.max_properties.get_or_insert(DEFAULT_MAX_PROPERTIES);
            }
            _ => {}
        }
        if USER_RESOURCES.iter().any(|p| format!("{p}.ports") == path) {
            schema.max_items = Some(USER_MAX_PORT_RANGES);
            schema
                .x_kubernetes_validations
                .get_or_insert_with(Vec::new)
                .push(ValidationRule {
                    rule: "self.all(a, self.exists_one(b, a.begin <= b.end && b.begin <= a.end))"
                        .into(),
                    message: Some(format!("{path} must not hold overlapping port ranges")),
                    ..ValidationRule::default()
                });
        }
        for (name, child) in schema.properties.iter_mut().flat_map(|p| p.iter_mut()) {
            let child_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            walk(child, &child_path);
        }
        if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
            walk(items, &format!("{path}[]"));
        }
        if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
            walk(extra, &format!("{path}{{}}"));
        }
    }
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            walk(schema, "");
        }
    }
    crd
}

/// One CRD as the YAML document checked in under `crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> crate::Result<String> {
    Ok(serde_yaml::to_string(crd)?)
}

/// Every CRD as one multi-document YAML stream (what `mesos-operator crds` prints).
pub fn all_yaml() -> crate::Result<String> {
    let mut out = String::new();
    for (_, crd) in all() {
        out.push_str("---\n");
        out.push_str(&to_yaml(&crd)?);
    }
    Ok(out)
}

/// Writes one file per kind into `dir` (what `crds/` and the chart hold).
pub fn write_all(dir: &std::path::Path) -> crate::Result<()> {
    for (file, crd) in all() {
        let path = dir.join(file);
        std::fs::write(&path, to_yaml(&crd)?).map_err(|e| crate::Error::Io {
            context: format!("writing {}", path.display()),
            source: e,
        })?;
    }
    Ok(())
}
