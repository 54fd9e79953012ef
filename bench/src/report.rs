//! The machine-readable summary (`bench/results/latest.json`, one entry of
//! `scaling.json`), the printed table and the scaling chart.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::control_plane::ServerCost;
use crate::stats::{Figures, Requests, fmt_secs, ratio};

/// Sizes and settings of a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Sizes {
    /// kwok nodes.
    pub nodes: usize,
    /// Pods or tasks per workload.
    pub tasks: usize,
    /// Frameworks of the operator workload.
    pub frameworks: usize,
    /// Simulated run time of each pod (kwok run-for).
    pub run_for: String,
    /// Creates in flight at once (the operator launches pods 32 at a time).
    pub concurrency: usize,
    /// kube-scheduler client QPS.
    pub scheduler_qps: u32,
    /// kube-scheduler client burst.
    pub scheduler_burst: u32,
}

/// The machine and checkout.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// CPUs available.
    pub nproc: usize,
    /// MemTotal, MiB.
    pub mem_total_mib: u64,
    /// `git rev-parse HEAD` (with `-dirty` when the tree has changes).
    pub git_commit: String,
    /// UTC, RFC 3339.
    pub date: String,
}

/// operator ÷ baseline.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Ratios {
    /// Throughput to all running.
    pub running_throughput: Option<f64>,
    /// Throughput to all finished.
    pub finished_throughput: Option<f64>,
    /// Median create → running latency.
    pub latency_p50: Option<f64>,
    /// 99th percentile create → running latency.
    pub latency_p99: Option<f64>,
}

impl Ratios {
    /// `operator / baseline` for each figure.
    pub fn of(operator: &Figures, baseline: &Figures) -> Self {
        Self {
            running_throughput: ratio(operator.running_per_second, baseline.running_per_second),
            finished_throughput: ratio(operator.finished_per_second, baseline.finished_per_second),
            latency_p50: ratio(operator.latency_p50_seconds, baseline.latency_p50_seconds),
            latency_p99: ratio(operator.latency_p99_seconds, baseline.latency_p99_seconds),
        }
    }
}

/// The operator process during its workload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OperatorStats {
    /// Peak resident set size (VmHWM) at the end of the workload, MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds (user + system) from ready to all tasks finished.
    pub cpu_seconds: f64,
    /// CPU seconds since the process started (start-up and cache sync included).
    pub cpu_seconds_total: f64,
    /// API requests from ready to all finished, verb → resource → count.
    pub requests: Requests,
    /// The same per verb.
    pub requests_by_verb: BTreeMap<String, u64>,
    /// Requests per verb divided by the number of tasks.
    pub requests_per_task: BTreeMap<String, f64>,
    /// create + update + patch + delete.
    pub writes: u64,
    /// writes / tasks: the headline.
    pub writes_per_task: f64,
}

/// One run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Sizes.
    pub sizes: Sizes,
    /// Machine.
    pub machine: Machine,
    /// Figures per workload (`bare`, `scheduler`, `operator`).
    pub workloads: BTreeMap<String, Figures>,
    /// operator ÷ bare.
    pub operator_over_bare: Option<Ratios>,
    /// operator ÷ kube-scheduler.
    pub operator_over_scheduler: Option<Ratios>,
    /// operator ÷ Jobs.
    #[serde(default)]
    pub operator_over_jobs: Option<Ratios>,
    /// operator ÷ Kueue.
    #[serde(default)]
    pub operator_over_kueue: Option<Ratios>,
    /// What each workload cost the control plane (its processes' CPU, the requests the
    /// API server counted).
    #[serde(default)]
    pub server: BTreeMap<String, ServerCost>,
    /// The operator process.
    pub operator: Option<OperatorStats>,
    /// Criterion's mean time of each allocator benchmark (`cargo bench --bench
    /// allocator`), nanoseconds, when target/criterion has them.
    pub allocator_criterion_ns: BTreeMap<String, f64>,
}

impl Report {
    /// Fills the ratios from the workloads.
    pub fn compute_ratios(&mut self) {
        let op = self.workloads.get("operator");
        self.operator_over_bare = op
            .zip(self.workloads.get("bare"))
            .map(|(o, b)| Ratios::of(o, b));
        self.operator_over_scheduler = op
            .zip(self.workloads.get("scheduler"))
            .map(|(o, s)| Ratios::of(o, s));
        self.operator_over_jobs = op
            .zip(self.workloads.get("jobs"))
            .map(|(o, s)| Ratios::of(o, s));
        self.operator_over_kueue = op
            .zip(self.workloads.get("kueue"))
            .map(|(o, s)| Ratios::of(o, s));
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let s = &self.sizes;
        let mut out = format!(
            "{} nodes, {} pods/tasks per workload ({} frameworks), run-for {}, {} creates in flight, {} CPUs, commit {}\n\n",
            s.nodes,
            s.tasks,
            s.frameworks,
            s.run_for,
            s.concurrency,
            self.machine.nproc,
            self.machine.git_commit
        );
        out.push_str(&format!(
            "{:<10} {:>9} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7}\n",
            "workload",
            "creates s",
            "allRunning",
            "allFinished",
            "run/s",
            "fin/s",
            "p50 s",
            "p99 s",
            "cleanup",
            "failed"
        ));
        for (name, f) in &self.workloads {
            out.push_str(&format!(
                "{:<10} {:>9.2} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7}{}\n",
                name,
                f.create_seconds,
                fmt_secs(f.all_running_seconds),
                fmt_secs(f.all_finished_seconds),
                fmt_rate(f.running_per_second),
                fmt_rate(f.finished_per_second),
                fmt_secs(f.latency_p50_seconds),
                fmt_secs(f.latency_p99_seconds),
                fmt_secs(f.cleanup_seconds),
                f.failed,
                if f.complete {
                    String::new()
                } else {
                    format!(
                        "  INCOMPLETE: {} running, {} finished; 99% running at {} s, 99% finished at {} s",
                        f.running,
                        f.finished,
                        fmt_secs(f.running_99pct_seconds),
                        fmt_secs(f.finished_99pct_seconds)
                    )
                }
            ));
        }
        for (label, r) in [
            ("operator/bare", &self.operator_over_bare),
            ("operator/scheduler", &self.operator_over_scheduler),
            ("operator/jobs", &self.operator_over_jobs),
            ("operator/kueue", &self.operator_over_kueue),
        ] {
            if let Some(r) = r {
                out.push_str(&format!(
                    "{label:<19} throughput to running {}, to finished {}; latency p50 {}, p99 {}\n",
                    fmt_ratio(r.running_throughput),
                    fmt_ratio(r.finished_throughput),
                    fmt_ratio(r.latency_p50),
                    fmt_ratio(r.latency_p99)
                ));
            }
        }
        if !self.server.is_empty() {
            out.push_str(&server_table(&self.server));
        }
        if let Some(o) = &self.operator {
            out.push_str(&format!(
                "operator: peak RSS {:.1} MiB, CPU {:.1} s during the workload ({:.1} s in all), writes per task {:.2}\n",
                o.peak_rss_mib, o.cpu_seconds, o.cpu_seconds_total, o.writes_per_task
            ));
            out.push_str("  requests per task by verb:");
            for (verb, n) in &o.requests_per_task {
                out.push_str(&format!(" {verb} {n:.2}"));
            }
            out.push('\n');
            for (verb, resources) in &o.requests {
                for (resource, n) in resources {
                    out.push_str(&format!("    {verb:<7} {resource:<22} {n}\n"));
                }
            }
        }
        for (name, ns) in &self.allocator_criterion_ns {
            out.push_str(&format!(
                "allocator (criterion) {name}: {:.3} ms\n",
                ns / 1e6
            ));
        }
        out
    }
}

/// Per workload: control-plane CPU ms per task and API requests per task as the API
/// server counted them.
fn server_table(server: &BTreeMap<String, ServerCost>) -> String {
    let ms = |c: &ServerCost, k: &str| {
        c.cpu_seconds_per_task
            .get(k)
            .map_or("-".to_string(), |s| format!("{:.1}", s * 1000.0))
    };
    let mut out = format!(
        "\nserver-side cost per task (CPU ms; API requests counted by kube-apiserver)\n{:<10} {:>10} {:>7} {:>7} {:>9} {:>7} {:>7} {:>8} {:>8}\n",
        "workload", "apiserver", "etcd", "kcm", "scheduler", "kwok", "kueue", "writes", "requests"
    );
    for (name, c) in server {
        out.push_str(&format!(
            "{:<10} {:>10} {:>7} {:>7} {:>9} {:>7} {:>7} {:>8.2} {:>8.2}\n",
            name,
            ms(c, "kube-apiserver"),
            ms(c, "etcd"),
            ms(c, "kube-controller-manager"),
            ms(c, "kube-scheduler"),
            ms(c, "kwok"),
            ms(c, "kueue"),
            c.writes_per_task,
            c.requests_per_task_total
        ));
    }
    out
}

fn fmt_rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.1}"))
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

/// Criterion's mean estimates under `dir` (`<group>/<bench>/new/estimates.json`), in ns,
/// keyed by `<group>/<bench>`.
pub fn criterion_estimates(dir: &Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                let estimates = path.join("estimates.json");
                let mean = std::fs::read_to_string(&estimates)
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .and_then(|v| v.pointer("/mean/point_estimate")?.as_f64());
                if let (Some(mean), Some(parent)) = (mean, path.parent()) {
                    let key = parent
                        .strip_prefix(dir)
                        .unwrap_or(parent)
                        .display()
                        .to_string();
                    out.insert(key, mean);
                }
            } else if path.file_name().is_some_and(|n| n != "report") {
                stack.push(path);
            }
        }
    }
    out
}

/// Appends `report` to the JSON array in `path` (created when missing).
pub fn append(path: &Path, report: &Report) -> Result<()> {
    let mut all = load_all(path)?;
    add_run(&mut all, report.clone());
    write_json(path, &all)
}

/// Adds a run to the scaling runs; a new run of the same sizes replaces the earlier one,
/// so re-running a size updates its point instead of adding a second.
pub fn add_run(all: &mut Vec<Report>, report: Report) {
    all.retain(|r| r.sizes != report.sizes);
    all.push(report);
}

/// The JSON array in `path`, or nothing when the file is missing.
pub fn load_all(path: &Path) -> Result<Vec<Report>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `value` as pretty JSON, creating the parent directory.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_and_prints() -> Result<()> {
        let mut r = Report::default();
        let figures = |rate: f64| Figures {
            objects: 10,
            running_per_second: Some(rate),
            finished_per_second: Some(rate / 2.0),
            latency_p50_seconds: Some(1.0),
            complete: true,
            ..Figures::default()
        };
        r.workloads.insert("bare".into(), figures(100.0));
        r.workloads.insert("scheduler".into(), figures(50.0));
        r.workloads.insert("operator".into(), figures(25.0));
        r.compute_ratios();
        assert_eq!(
            r.operator_over_bare
                .as_ref()
                .and_then(|x| x.running_throughput),
            Some(0.25)
        );
        assert_eq!(
            r.operator_over_scheduler
                .as_ref()
                .and_then(|x| x.latency_p50),
            Some(1.0)
        );
        let text = serde_json::to_string(&r)?;
        let back: Report = serde_json::from_str(&text)?;
        assert_eq!(back, r);
        assert!(r.table().contains("operator/bare"));
        Ok(())
    }

    #[test]
    fn a_rerun_of_the_same_sizes_replaces_its_point() {
        let run = |nodes: usize, tasks: usize, cpu: f64| Report {
            sizes: Sizes {
                nodes,
                tasks,
                ..Sizes::default()
            },
            operator: Some(OperatorStats {
                cpu_seconds: cpu,
                ..OperatorStats::default()
            }),
            ..Report::default()
        };
        let mut all = Vec::new();
        add_run(&mut all, run(100, 1000, 1.0));
        add_run(&mut all, run(300, 3000, 2.0));
        add_run(&mut all, run(100, 1000, 3.0));
        let points: Vec<_> = all
            .iter()
            .map(|r| (r.sizes.nodes, r.operator.as_ref().map(|o| o.cpu_seconds)))
            .collect();
        assert_eq!(points, [(300, Some(2.0)), (100, Some(3.0))]);
    }

    #[test]
    fn criterion_estimates_are_found() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("bench-criterion-{}", std::process::id()));
        let new = dir.join("cycle").join("1k").join("new");
        std::fs::create_dir_all(&new)?;
        std::fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":1234.5}}"#,
        )?;
        let found = criterion_estimates(&dir);
        std::fs::remove_dir_all(&dir)?;
        assert_eq!(found.get("cycle/1k"), Some(&1234.5));
        Ok(())
    }
}
