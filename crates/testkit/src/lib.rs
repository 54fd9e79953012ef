//! The end-to-end test kit shared by every test binary under `tests/`: one test's
//! namespace and operator ([`support::TestEnv`]), operator processes started with
//! arguments of their own ([`process::Operator`]), kubectl, helm and plain-HTTP helpers,
//! and where the binaries and scratch files are ([`paths`]).
//!
//! A crate rather than files pulled in with `#[path]`: each test binary uses what it
//! needs, and nothing in here is dead code in the binaries that do not.

pub mod paths;
pub mod process;
pub mod support;
