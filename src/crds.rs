//! The CustomResourceDefinitions, generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

use crate::api::{BatchJob, Framework, Offer, ResourceRole, Task};

/// Every CRD the operator serves, in a stable order, with the file name it has in `crds/`.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("framework.yaml", kubernetes_formats(Framework::crd())),
        ("task.yaml", kubernetes_formats(Task::crd())),
        ("offer.yaml", kubernetes_formats(Offer::crd())),
        ("resourcerole.yaml", kubernetes_formats(ResourceRole::crd())),
        ("batchjob.yaml", kubernetes_formats(BatchJob::crd())),
    ]
}

/// schemars marks unsigned integers `format: uint32`/`uint64`, which the API server does
/// not know (it warns on every apply); Kubernetes spells them `int32`/`int64` with
/// `minimum: 0`, which the schema already carries.
fn kubernetes_formats(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(schema: &mut JSONSchemaProps) {
        match schema.format.as_deref() {
            Some("uint32" | "uint16" | "uint8") => schema.format = Some("int32".into()),
            Some("uint64" | "uint") => schema.format = Some("int64".into()),
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
