//! Chronos- and Aurora-style jobs: the pure decision core.
pub mod schedule;
