//! Fault tests of issue 4, end to end against a real API server: the operator killed with
//! SIGKILL mid-run, kube-apiserver restarted mid-run, a namespace and a Framework deleted
//! with running tasks, a burst of out-of-order updates to one task's Pod and Task.
//!
//! A separate test binary: cargo runs test binaries one after another, so restarting
//! kube-apiserver here never breaks a test of another binary; inside this binary the tests
//! take turns ([`SERIAL`]). Each test runs its own operator on a node pool of its own
//! (`--node-selector e2e-pool=<namespace>`), prints what it checked and fails with a
//! message naming the invariant that broke. The random fault schedules print their seed;
//! `FAULTS_SEED=<seed>` replays one.

use mesos_testkit::{process, support};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use mesos_operator::api::{
    Framework, LABEL_FRAMEWORK, LABEL_MANAGED_BY, LABEL_TASK, MANAGER, Offer, OfferState, Task,
    TaskCounts, TaskReason, TaskState,
};
use serde_json::json;
use support::TestEnv;

/// The tests restart kube-apiserver and saturate node pools: they take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Operator arguments: manage only this test's nodes.
const POOL: &[&str] = &["--node-selector", "e2e-pool={ns}"];

const RUN_FOR: &str = "kwok.mesos.operator.dev/run-for";
const EXIT_CODE: &str = "kwok.mesos.operator.dev/exit-code";

mod apiserver_restart;
mod deletion;
mod operator_killed;
mod out_of_order;
mod tools;

use tools::*;
