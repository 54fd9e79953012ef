//! Chronos- and Aurora-style jobs: the pure decision core.
pub mod catch_up;
pub mod concurrency;
pub mod dag;
pub mod history;
pub mod ledger;
pub mod names;
pub mod plan;
pub mod retry;
pub mod schedule;
pub mod spec;
