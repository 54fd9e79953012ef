//! The server-side cost of a workload: CPU seconds of every control-plane process (from
//! `/proc`, with the pids `hack/cluster.sh` records) and the API requests the API server
//! itself counted (`apiserver_request_total`, which includes kwok's, the controller
//! manager's, the scheduler's, Kueue's and the operator's requests alike).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use kube::Client;
use serde::{Deserialize, Serialize};

use crate::stats::{Requests, cpu_ticks, parse_counter, requests_delta};

/// Clock ticks per second of /proc/PID/stat on Linux.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// The processes whose CPU a workload is charged with.
pub const COMPONENTS: [&str; 6] = [
    "kube-apiserver",
    "etcd",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kueue",
];

/// One reading of the control plane.
#[derive(Clone, Debug, Default)]
pub struct Reading {
    /// CPU seconds (user + system) per running component.
    pub cpu_seconds: BTreeMap<String, f64>,
    /// `apiserver_request_total`, verb → resource[/subresource] → count.
    pub requests: Requests,
}

/// What a workload cost the control plane, between two readings.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerCost {
    /// CPU seconds per component during the workload.
    pub cpu_seconds: BTreeMap<String, f64>,
    /// CPU seconds per task (or pod, or Job) per component.
    pub cpu_seconds_per_task: BTreeMap<String, f64>,
    /// Requests the API server served during the workload, verb → resource → count.
    pub requests: Requests,
    /// The same per verb.
    pub requests_by_verb: BTreeMap<String, u64>,
    /// Requests per task, per verb.
    pub requests_per_task: BTreeMap<String, f64>,
    /// Mutating requests (POST, PUT, PATCH, DELETE, DELETECOLLECTION) per task.
    pub writes_per_task: f64,
    /// Every request per task (watches and lists included).
    pub requests_per_task_total: f64,
}

impl ServerCost {
    /// The cost between `before` and `after`, for `tasks` objects. A component that was
    /// not running at both readings is charged what it used since it started (its
    /// before-reading is 0): kube-scheduler and Kueue start with their workloads.
    pub fn between(before: &Reading, after: &Reading, tasks: usize) -> Self {
        let n = tasks.max(1) as f64;
        let cpu_seconds: BTreeMap<String, f64> = after
            .cpu_seconds
            .iter()
            .map(|(c, s)| {
                let was = before.cpu_seconds.get(c).copied().unwrap_or(0.0);
                (c.clone(), (s - was).max(0.0))
            })
            .collect();
        let requests = requests_delta(&after.requests, &before.requests);
        let requests_by_verb: BTreeMap<String, u64> = requests
            .iter()
            .map(|(verb, r)| (verb.clone(), r.values().sum()))
            .collect();
        let writes: u64 = requests_by_verb
            .iter()
            .filter(|(verb, _)| {
                matches!(
                    verb.as_str(),
                    "POST" | "PUT" | "PATCH" | "DELETE" | "DELETECOLLECTION" | "APPLY"
                )
            })
            .map(|(_, n)| n)
            .sum();
        let total: u64 = requests_by_verb.values().sum();
        Self {
            cpu_seconds_per_task: cpu_seconds
                .iter()
                .map(|(c, s)| (c.clone(), s / n))
                .collect(),
            cpu_seconds,
            requests_per_task: requests_by_verb
                .iter()
                .map(|(v, k)| (v.clone(), *k as f64 / n))
                .collect(),
            requests_by_verb,
            requests,
            writes_per_task: writes as f64 / n,
            requests_per_task_total: total as f64 / n,
        }
    }
}

/// Reads the control plane of `cluster_dir` (its `run/<component>.pid` files) and the API
/// server's request counters through `client`.
pub async fn read(client: &Client, cluster_dir: &Path) -> Result<Reading> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .context("building the /metrics request")?;
    let text = client
        .request_text(request)
        .await
        .context("reading the API server's /metrics")?;
    Ok(Reading {
        cpu_seconds: component_cpu(&cluster_dir.join("run")),
        requests: parse_counter(&text, "apiserver_request_total"),
    })
}

fn component_cpu(run: &Path) -> BTreeMap<String, f64> {
    COMPONENTS
        .iter()
        .filter_map(|c| {
            let pid = std::fs::read_to_string(run.join(format!("{c}.pid"))).ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok()?;
            let ticks = cpu_ticks(&stat)?;
            Some((c.to_string(), ticks as f64 / CLOCK_TICKS_PER_SECOND))
        })
        .collect()
}

/// `$CLUSTER_DIR`, where `hack/cluster.sh` keeps the pids.
pub fn cluster_dir() -> PathBuf {
    PathBuf::from(std::env::var("CLUSTER_DIR").unwrap_or_else(|_| "/tmp".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(cpu: &[(&str, f64)], posts: u64, gets: u64) -> Reading {
        let mut requests = Requests::new();
        requests
            .entry("POST".into())
            .or_default()
            .insert("pods".into(), posts);
        requests
            .entry("GET".into())
            .or_default()
            .insert("pods".into(), gets);
        Reading {
            cpu_seconds: cpu.iter().map(|(c, s)| (c.to_string(), *s)).collect(),
            requests,
        }
    }

    #[test]
    fn cost_is_the_difference_per_task() {
        let before = reading(&[("kube-apiserver", 10.0), ("etcd", 2.0)], 5, 100);
        let after = reading(
            &[
                ("kube-apiserver", 30.0),
                ("etcd", 4.0),
                ("kube-scheduler", 3.0),
            ],
            105,
            300,
        );
        let cost = ServerCost::between(&before, &after, 100);
        assert_eq!(cost.cpu_seconds["kube-apiserver"], 20.0);
        assert_eq!(cost.cpu_seconds_per_task["etcd"], 0.02);
        // a component started during the workload is charged all it used
        assert_eq!(cost.cpu_seconds["kube-scheduler"], 3.0);
        assert_eq!(cost.requests_by_verb["POST"], 100);
        assert_eq!(cost.writes_per_task, 1.0);
        assert_eq!(cost.requests_per_task_total, 3.0);
    }
}
