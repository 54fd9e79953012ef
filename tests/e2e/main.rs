//! End-to-end tests against a real API server (etcd, kube-apiserver,
//! kube-controller-manager, kwok). Each test has its own namespace and its own operator.
//! `make test` starts the cluster and runs them.

use mesos_testkit::{process, support};

mod chart;
mod constraints;
mod cost;
mod leader;
mod lifecycle;
mod observability;
mod scheduler_api;
mod schema_property;
mod tasks;
mod validation;
