//! The CustomResourceDefinitions, generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::api::{Framework, Offer, ResourceRole, Task};

/// Every CRD the operator serves, in a stable order, with the file name it has in `crds/`.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("framework.yaml", Framework::crd()),
        ("task.yaml", Task::crd()),
        ("offer.yaml", Offer::crd()),
        ("resourcerole.yaml", ResourceRole::crd()),
    ]
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
