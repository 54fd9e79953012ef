//! The command line's own subcommands (besides `run`): `crds` prints or writes the
//! CustomResourceDefinitions, `state` prints the master's state as a table.

pub mod crds;
pub mod state;
