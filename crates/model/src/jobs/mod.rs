//! Chronos- and Aurora-style jobs: the pure decision core.
pub mod catch_up;
pub mod concurrency;
pub mod names;
pub mod retry;
pub mod schedule;
