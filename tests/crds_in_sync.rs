//! `crds/` and the chart's CRDs must be exactly what `mesos-operator crds` generates.

use std::path::Path;

#[test]
fn checked_in_crds_match_the_generated_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut drift = Vec::new();
    for dir in ["crds", "charts/mesos-operator/crds"] {
        for (file, crd) in mesos_operator::cli::crds::all() {
            let path = root.join(dir).join(file);
            let expected =
                mesos_operator::cli::crds::to_yaml(&crd).unwrap_or_else(|e| panic!("{e}"));
            let actual = std::fs::read_to_string(&path).unwrap_or_default();
            if actual != expected {
                drift.push(path.display().to_string());
            }
        }
        let listed: Vec<String> = std::fs::read_dir(root.join(dir))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for name in listed {
            if !mesos_operator::cli::crds::all()
                .iter()
                .any(|(f, _)| *f == name)
            {
                drift.push(format!("{dir}/{name} (not generated)"));
            }
        }
    }
    assert!(
        drift.is_empty(),
        "CRDs drifted from the Rust types: {drift:?}; run `make crds`"
    );
}

#[test]
fn crds_have_the_contracted_names() {
    let crds = mesos_operator::cli::crds::all();
    let names: Vec<String> = crds
        .iter()
        .map(|(_, c)| c.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "frameworks.mesos.operator.dev",
            "tasks.mesos.operator.dev",
            "offers.mesos.operator.dev",
            "resourceroles.mesos.operator.dev",
            "batchjobs.mesos.operator.dev",
            "apps.mesos.operator.dev"
        ]
    );
    for (_, crd) in &crds {
        assert_eq!(
            crd.spec.names.categories.clone().unwrap_or_default(),
            ["mesos"]
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "status subresource"
        );
    }
    assert_eq!(crds[3].1.spec.scope, "Cluster");
}
