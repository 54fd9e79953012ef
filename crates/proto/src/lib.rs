//! Apache Mesos' v1 API messages and their wire formats, for serving Mesos' HTTP APIs.
//!
//! - [`v1`]: the prost types of Mesos' own `.proto` files (vendored from Mesos 1.11.0
//!   under `proto/`, see `NOTICE`): `v1::scheduler::{Call, Event}`,
//!   `v1::master::{Call, Response, Event}`, `v1::TaskStatus`, … Enum prefixes are
//!   stripped (`v1::task_status::Source::Executor`); proto2 `required` fields are
//!   plain fields, `optional` ones `Option`s.
//! - [`decode`] and [`encode`]: bodies in either [`ContentType`], JSON by Mesos' own
//!   rules ([`json`]), with the required-field checks Mesos makes ([`validate`]).
//! - [`recordio`]: the framing of event streams.
//! - [`offers`], [`status_uuid`], [`time`]: values the scheduler API builds.
//!
//! Pure: nothing here does I/O or reads the clock.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

pub mod codec;
pub mod content_type;
pub mod json;
pub mod offers;
pub mod recordio;
pub mod status_uuid;
pub mod time;
pub mod validate;

pub use codec::{
    CodecError, NotInitialized, check_initialized, decode, encode, from_json, to_json,
};
pub use content_type::{ContentType, UnsupportedMediaType};
pub use prost_reflect::ReflectMessage;

/// The FileDescriptorSet of the vendored `.proto` files, imports included, without
/// comments.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mesos_v1_descriptor_set.bin"));

/// Descriptors of every vendored message, for reflection. Every type in [`v1`]
/// implements [`ReflectMessage`] against it.
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    // The set is written by build.rs from the same files the types come from; the
    // tests decode it.
    #[allow(clippy::expect_used)]
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("build.rs writes a valid descriptor set")
});

#[allow(
    clippy::all,
    missing_docs,
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags,
    rustdoc::invalid_rust_codeblocks
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/mesos_v1.rs"));
}

/// The `mesos.v1` package and its sub-packages, as prost types.
pub use generated::mesos::v1;
