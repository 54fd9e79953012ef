//! Where the operator binary, scratch files and the repository are, found at run time
//! from the running test binary (cargo puts it in `target/<profile>/deps/`, next to the
//! operator binary it builds for integration tests).

use std::path::PathBuf;

/// `target/<profile>`: the directory above the running test binary's `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("cannot find the running test binary: {e}"));
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{} is not under target/<profile>/deps", exe.display()))
}

/// The `mesos-operator` binary cargo built for the integration tests (the
/// `CARGO_BIN_EXE_mesos-operator` of the test binary).
pub fn operator_binary() -> PathBuf {
    std::env::var_os("CARGO_BIN_EXE_mesos-operator")
        .map(PathBuf::from)
        .unwrap_or_else(|| profile_dir().join("mesos-operator"))
}

/// Scratch space for test artifacts (`target/tmp`, cargo's `CARGO_TARGET_TMPDIR`).
pub fn target_tmpdir() -> PathBuf {
    let dir = match std::env::var_os("CARGO_TARGET_TMPDIR") {
        Some(dir) => PathBuf::from(dir),
        None => profile_dir()
            .parent()
            .map(|target| target.join("tmp"))
            .unwrap_or_else(|| std::env::temp_dir().join("mesos-operator-tests")),
    };
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// The repository's root (the chart, the examples, the test clients).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}
