//! Pure helpers: percentiles, what a workload's timings come to, /proc and Prometheus text
//! parsing. Unit-tested without a cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The `q`-quantile (0..=1) of sorted `values`, nearest rank; `None` when empty.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// What one object went through, as instants seen by the driver.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeline {
    /// When its create request was sent.
    pub created: Option<Instant>,
    /// When the watch first showed it running.
    pub running: Option<Instant>,
    /// When the watch first showed it terminal.
    pub finished: Option<Instant>,
    /// Whether it ended in failure (pod Failed, task not TASK_FINISHED).
    pub failed: bool,
}

/// The figures of one workload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    /// Objects (pods or tasks) the workload was meant to run.
    pub objects: usize,
    /// Objects whose create succeeded.
    pub created: usize,
    /// Objects seen running (or finished without a running state seen in between, which
    /// then counts as running when finished was seen).
    pub running: usize,
    /// Objects seen terminal.
    pub finished: usize,
    /// Objects that ended in failure.
    pub failed: usize,
    /// Whether every object was seen finished before the deadline.
    pub complete: bool,
    /// First create sent → last create answered.
    pub create_seconds: f64,
    /// First create sent → last object seen running.
    pub all_running_seconds: Option<f64>,
    /// First create sent → last object seen terminal.
    pub all_finished_seconds: Option<f64>,
    /// First create sent → 99% of the objects seen running (robust to a few stragglers).
    #[serde(default)]
    pub running_99pct_seconds: Option<f64>,
    /// First create sent → 99% of the objects seen terminal.
    #[serde(default)]
    pub finished_99pct_seconds: Option<f64>,
    /// objects / all_running_seconds.
    pub running_per_second: Option<f64>,
    /// objects / all_finished_seconds.
    pub finished_per_second: Option<f64>,
    /// create → running latency, median.
    pub latency_p50_seconds: Option<f64>,
    /// create → running latency, 99th percentile.
    pub latency_p99_seconds: Option<f64>,
    /// create → running latency, maximum.
    pub latency_max_seconds: Option<f64>,
    /// Namespace deletion → namespace gone.
    pub cleanup_seconds: Option<f64>,
}

impl Figures {
    /// Figures from the objects' timelines; `start` is when the first create was sent and
    /// `created_until` when the last create was answered.
    pub fn compute(timelines: &[Timeline], start: Instant, created_until: Instant) -> Self {
        let objects = timelines.len();
        let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
        let running_at = |t: &Timeline| t.running.or(t.finished);
        let created = timelines.iter().filter(|t| t.created.is_some()).count();
        let running = timelines.iter().filter(|t| running_at(t).is_some()).count();
        let finished = timelines.iter().filter(|t| t.finished.is_some()).count();
        let failed = timelines.iter().filter(|t| t.failed).count();
        let all_running = (objects > 0 && running == objects)
            .then(|| timelines.iter().filter_map(running_at).max())
            .flatten()
            .map(secs);
        let all_finished = (objects > 0 && finished == objects)
            .then(|| timelines.iter().filter_map(|t| t.finished).max())
            .flatten()
            .map(secs);
        let mut latencies: Vec<f64> = timelines
            .iter()
            .filter_map(|t| {
                let (c, r) = (t.created?, running_at(t)?);
                Some(r.saturating_duration_since(c).as_secs_f64())
            })
            .collect();
        latencies.sort_by(f64::total_cmp);
        let quantile_of_all = |at: &dyn Fn(&Timeline) -> Option<Instant>| {
            let mut reached: Vec<f64> = timelines.iter().filter_map(at).map(secs).collect();
            reached.sort_by(f64::total_cmp);
            let k = (0.99 * objects as f64).ceil() as usize;
            (k > 0).then(|| reached.get(k - 1).copied()).flatten()
        };
        let running_99 = quantile_of_all(&running_at);
        let finished_99 = quantile_of_all(&|t: &Timeline| t.finished);
        let rate = |s: Option<f64>| s.filter(|s| *s > 0.0).map(|s| objects as f64 / s);
        Self {
            objects,
            created,
            running,
            finished,
            failed,
            complete: all_finished.is_some(),
            create_seconds: secs(created_until),
            all_running_seconds: all_running,
            all_finished_seconds: all_finished,
            running_99pct_seconds: running_99,
            finished_99pct_seconds: finished_99,
            running_per_second: rate(all_running),
            finished_per_second: rate(all_finished),
            latency_p50_seconds: percentile(&latencies, 0.50),
            latency_p99_seconds: percentile(&latencies, 0.99),
            latency_max_seconds: latencies.last().copied(),
            cleanup_seconds: None,
        }
    }
}

/// `a / b` when both are known and `b` is not 0.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// Peak resident set size in KiB (`VmHWM`) from the text of `/proc/PID/status`.
pub fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User plus system CPU time in clock ticks from the text of `/proc/PID/stat`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `mesos_operator_api_requests_total` from Prometheus text: verb → resource → count.
pub type Requests = BTreeMap<String, BTreeMap<String, u64>>;

/// Parses the operator's request counters out of a `/metrics` body.
pub fn parse_requests(text: &str) -> Requests {
    parse_counter(text, "mesos_operator_api_requests_total")
}

/// Parses a request counter with `verb` and `resource` labels (and `subresource`, which
/// the API server's `apiserver_request_total` has: it is appended as `resource/sub`),
/// summing the series that differ in other labels (code, scope, version…).
pub fn parse_counter(text: &str, metric: &str) -> Requests {
    let prefix = format!("{metric}{{");
    let mut out = Requests::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let (Some(verb), Some(resource)) = (label(labels, "verb"), label(labels, "resource"))
        else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let resource = match label(labels, "subresource") {
            Some(sub) if !sub.is_empty() => format!("{resource}/{sub}"),
            _ => resource.to_string(),
        };
        *out.entry(verb.to_string())
            .or_default()
            .entry(resource)
            .or_default() += value as u64;
    }
    out
}

/// The value of label `name` (a whole label name: `resource` does not match
/// `subresource`). Values with escaped quotes are not expected in these counters.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let mut from = 0;
    while let Some(at) = labels[from..].find(&key).map(|i| i + from) {
        if at == 0 || labels[..at].ends_with(',') {
            let start = at + key.len();
            let len = labels[start..].find('"')?;
            return Some(&labels[start..start + len]);
        }
        from = at + key.len();
    }
    None
}

/// `after - before`, per verb and resource (counters only grow; a missing entry is 0).
pub fn requests_delta(after: &Requests, before: &Requests) -> Requests {
    let mut out = Requests::new();
    for (verb, resources) in after {
        for (resource, n) in resources {
            let was = before
                .get(verb)
                .and_then(|r| r.get(resource))
                .copied()
                .unwrap_or(0);
            let d = n.saturating_sub(was);
            if d > 0 {
                out.entry(verb.clone())
                    .or_default()
                    .insert(resource.clone(), d);
            }
        }
    }
    out
}

/// Total per verb.
pub fn by_verb(requests: &Requests) -> BTreeMap<String, u64> {
    requests
        .iter()
        .map(|(verb, r)| (verb.clone(), r.values().sum()))
        .collect()
}

/// create + update + patch + delete.
pub fn writes(requests: &Requests) -> u64 {
    by_verb(requests)
        .iter()
        .filter(|(v, _)| matches!(v.as_str(), "create" | "update" | "patch" | "delete"))
        .map(|(_, n)| n)
        .sum()
}

/// Seconds as a `Duration`-like display: `12.3 s`, or `-` when unknown.
pub fn fmt_secs(s: Option<f64>) -> String {
    s.map_or_else(|| "-".into(), |s| format!("{s:.2}"))
}

/// How long since `start`, in seconds.
pub fn since(start: Instant) -> f64 {
    Instant::now()
        .saturating_duration_since(start)
        .as_secs_f64()
}

/// Parses a Go-style duration as the kwok stage does (`5s`, `500ms`, `1m30s`).
pub fn parse_run_for(s: &str) -> Option<Duration> {
    let d: kube::core::Duration = s.parse().ok()?;
    (!d.is_negative()).then(|| d.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_server_counters_are_summed_by_verb_and_resource() {
        let text = r#"# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 10
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="batch",resource="jobs",scope="namespace",subresource="",verb="LIST",version="v1"} 1
"#;
        let r = parse_counter(text, "apiserver_request_total");
        assert_eq!(r["POST"]["pods"], 12);
        assert_eq!(r["PATCH"]["pods/status"], 7);
        assert_eq!(r["LIST"]["jobs"], 1);
        assert!(parse_requests(text).is_empty());
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 0.99), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn figures_from_timelines() {
        let t0 = Instant::now();
        let at = |ms: u64| Some(t0 + Duration::from_millis(ms));
        let timelines = [
            Timeline {
                created: at(0),
                running: at(1000),
                finished: at(6000),
                failed: false,
            },
            Timeline {
                created: at(500),
                running: None,
                finished: at(2500),
                failed: true,
            },
        ];
        let f = Figures::compute(&timelines, t0, t0 + Duration::from_millis(600));
        assert_eq!(
            (f.objects, f.created, f.running, f.finished, f.failed),
            (2, 2, 2, 2, 1)
        );
        assert!(f.complete);
        assert_eq!(f.all_running_seconds, Some(2.5));
        assert_eq!(f.all_finished_seconds, Some(6.0));
        assert_eq!(f.running_per_second, Some(0.8));
        assert_eq!(f.latency_p50_seconds, Some(1.0));
        assert_eq!(f.latency_p99_seconds, Some(2.0));
        assert_eq!(f.create_seconds, 0.6);
        assert_eq!(f.running_99pct_seconds, Some(2.5));
        assert_eq!(f.finished_99pct_seconds, Some(6.0));

        let partial = [Timeline {
            created: at(0),
            ..Timeline::default()
        }];
        let f = Figures::compute(&partial, t0, t0);
        assert!(!f.complete);
        assert_eq!(f.all_running_seconds, None);
        assert_eq!(f.running_per_second, None);
    }

    #[test]
    fn proc_parsing() {
        let status =
            "Name:\tmesos-operator\nVmPeak:\t  300 kB\nVmHWM:\t   51234 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(51234));
        let stat =
            "4242 (mesos (op) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(325));
    }

    #[test]
    fn request_counters_from_prometheus_text() {
        let before = parse_requests(
            "# TYPE mesos_operator_api_requests counter\n\
             mesos_operator_api_requests_total{verb=\"list\",resource=\"pods\"} 1\n\
             mesos_operator_api_requests_total{verb=\"watch\",resource=\"pods\"} 1\n",
        );
        let after = parse_requests(
            "mesos_operator_api_requests_total{verb=\"list\",resource=\"pods\"} 1\n\
             mesos_operator_api_requests_total{verb=\"watch\",resource=\"pods\"} 2\n\
             mesos_operator_api_requests_total{verb=\"create\",resource=\"pods\"} 10\n\
             mesos_operator_api_requests_total{verb=\"patch\",resource=\"tasks/status\"} 30\n\
             mesos_operator_reconcile_total{controller=\"task\"} 5\n",
        );
        let d = requests_delta(&after, &before);
        assert_eq!(d.get("list"), None);
        assert_eq!(d["watch"]["pods"], 1);
        assert_eq!(d["patch"]["tasks/status"], 30);
        assert_eq!(writes(&d), 40);
        assert_eq!(by_verb(&d)["create"], 10);
    }

    #[test]
    fn ratios_and_durations() {
        assert_eq!(ratio(Some(1.0), Some(4.0)), Some(0.25));
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(parse_run_for("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_run_for("nope"), None);
    }
}
