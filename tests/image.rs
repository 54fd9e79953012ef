//! The container image: `hack/image.sh` builds it without a daemon (buildah, vfs storage)
//! from the `FROM scratch` Dockerfile around the statically linked release binary. The test
//! exports it as an OCI archive and checks what is inside: the config (non-root numeric
//! user, entrypoint), the single file it holds (no shell), and the binary taken from it
//! (`--version`, `crds`).
//!
//! `IMAGE_CARGO_TARGET_DIR` chooses the target directory of the release build (default:
//! `image-build` beside the test's, so that it never waits for the lock `cargo test` holds).
//!
//! It needs buildah (Debian: `apt-get install -y buildah`). Without it the test is skipped,
//! except in CI (`CI` set), where a missing buildah is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

fn have_buildah() -> bool {
    Command::new("buildah")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(dir: &Path, digest: &serde_json::Value) -> PathBuf {
    let digest = digest.as_str().unwrap_or_default();
    let (algo, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    dir.join("blobs").join(algo).join(hex)
}

#[test]
fn image_is_the_static_binary_alone_running_as_non_root() {
    if !have_buildah() {
        assert!(
            std::env::var_os("CI").is_none(),
            "buildah is required in CI: `apt-get install -y buildah` in .ci/run"
        );
        eprintln!("skipped: buildah is not installed (apt-get install -y buildah)");
        return;
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("image-test");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("{e}"));
    let archive = tmp.join("mesos-operator.oci.tar");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A target directory of its own: the release build never waits for the lock `cargo
    // test` holds on the main one. Private buildah storage: parallel runs never collide.
    let target = std::env::var_os("IMAGE_CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .map(|t| t.join("image-build"))
        })
        .unwrap_or_else(|| tmp.join("target"));
    let buildah_root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("buildah");
    let image = "localhost/mesos-operator:image-test";
    run(Command::new("bash")
        .arg(root.join("hack/image.sh"))
        .arg("archive")
        .arg(&archive)
        .current_dir(root)
        .env("IMAGE", image)
        .env("CARGO_TARGET_DIR", &target)
        .env("BUILDAH_ROOT", &buildah_root));

    // The OCI layout inside the archive: index → manifest → config and layers.
    let layout = tmp.join("layout");
    std::fs::create_dir_all(&layout).unwrap_or_else(|e| panic!("{e}"));
    run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout));
    let index = json(&layout.join("index.json"));
    let manifest = json(&blob(&layout, &index["manifests"][0]["digest"]));
    let config = json(&blob(&layout, &manifest["config"]["digest"]));
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "non-root numeric user: {c}");
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/mesos-operator"]),
        "{c}"
    );
    assert_eq!(c["Cmd"], serde_json::json!(["run"]), "{c}");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");

    // Every file of every layer: the binary and nothing else (no shell, no libc).
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    assert_eq!(layers.len(), 1, "one layer: {manifest}");
    let layer = blob(&layout, &layers[0]["digest"]);
    let files: Vec<String> = run(Command::new("tar").arg("-tf").arg(&layer))
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(files, ["mesos-operator"], "the image holds only the binary");
    let rootfs = tmp.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap_or_else(|e| panic!("{e}"));
    run(Command::new("tar")
        .arg("-xf")
        .arg(&layer)
        .arg("-C")
        .arg(&rootfs));
    assert!(!rootfs.join("bin/sh").exists());
    let binary = rootfs.join("mesos-operator");

    // Statically linked: runs with no shared library at all.
    let ldd = Command::new("ldd").arg(&binary).output();
    if let Ok(out) = ldd {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("not a dynamic executable") || text.contains("statically linked"),
            "ldd: {text}"
        );
    }
    let version = run(Command::new(&binary).arg("--version").env_clear());
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")),
        "--version: {version}"
    );
    let crds = run(Command::new(&binary).arg("crds").env_clear());
    assert_eq!(
        crds,
        mesos_operator::cli::crds::all_yaml().unwrap_or_else(|e| panic!("{e}")),
        "the image's binary prints the CRDs of this source tree"
    );

    let binary_size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    let layer_size = std::fs::metadata(&layer).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "image {image}: binary {:.1} MiB, layer {:.1} MiB",
        binary_size as f64 / 1048576.0,
        layer_size as f64 / 1048576.0
    );
}
