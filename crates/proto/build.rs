//! Compiles the vendored Mesos v1 `.proto` files with `protox` (pure Rust: no `protoc`)
//! into prost types, each deriving `prost_reflect::ReflectMessage` against the crate's
//! `DESCRIPTOR_POOL`, and writes the FileDescriptorSet (imports included, comments
//! stripped) to `$OUT_DIR/mesos_v1_descriptor_set.bin`.

use std::{env, error::Error, fs, path::PathBuf};

use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorSet};

/// The vendored files, relative to `proto/`; their imports are found there too.
const PROTOS: &[&str] = &[
    "mesos/v1/mesos.proto",
    "mesos/v1/scheduler/scheduler.proto",
    "mesos/v1/executor/executor.proto",
    "mesos/v1/master/master.proto",
    "mesos/v1/maintenance/maintenance.proto",
    "mesos/v1/quota/quota.proto",
    "mesos/v1/allocator/allocator.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .include_source_info(true)
        .open_files(PROTOS)?
        .file_descriptor_set();

    let mut embedded = fds.clone();
    for file in &mut embedded.file {
        file.source_code_info = None;
    }
    fs::write(
        out_dir.join("mesos_v1_descriptor_set.bin"),
        embedded.encode_to_vec(),
    )?;

    let mut config = prost_build::Config::new();
    config.include_file("mesos_v1.rs");
    derive_reflect_message(&mut config, &fds);
    config.compile_fds(fds)?;
    Ok(())
}

/// Derives `prost_reflect::ReflectMessage` for every message of the Mesos packages
/// (what `prost-reflect-build` does, which needs `protoc`).
///
/// prost-build applies an attribute registered for `.a.B` to `.a.B` and to every type
/// nested in it, in registration order. So the derive is registered once, for `.mesos`,
/// and each message's `message_name` after its enclosing message's: the derive keeps
/// the last `message_name` it sees, which is then the message's own.
fn derive_reflect_message(config: &mut prost_build::Config, fds: &FileDescriptorSet) {
    config.message_attribute(
        ".mesos",
        "#[derive(::prost_reflect::ReflectMessage)]\n\
         #[prost_reflect(descriptor_pool = \"crate::DESCRIPTOR_POOL\")]",
    );
    for file in fds
        .file
        .iter()
        .filter(|f| f.package().starts_with("mesos."))
    {
        for message in &file.message_type {
            name_reflect_message(config, file.package(), message);
        }
    }
}

fn name_reflect_message(config: &mut prost_build::Config, scope: &str, message: &DescriptorProto) {
    let full_name = format!("{scope}.{}", message.name());
    config.message_attribute(
        format!(".{full_name}"),
        format!("#[prost_reflect(message_name = \"{full_name}\")]"),
    );
    for nested in &message.nested_type {
        name_reflect_message(config, &full_name, nested);
    }
}
