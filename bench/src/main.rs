//! End-to-end throughput benchmark of mesos-operator on a local kwok cluster: the same T
//! pods run bare (nodeName set), through kube-scheduler and as Tasks placed by the
//! operator's DRF allocator. See bench/README.md; `bash bench/run.sh` prepares the
//! cluster and runs this.

mod chart;
mod control_plane;
mod kueue;
mod operator;
mod report;
mod stats;
mod workload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::report::{Machine, OperatorStats, Report, Sizes};
use crate::stats::{by_verb, requests_delta, since, writes};
use crate::workload::{Kind, Plan};

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "mesos-operator end-to-end throughput benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the workloads against the cluster of $KUBECONFIG (nodes must exist already).
    Run(Box<RunArgs>),
    /// Draw the scaling chart from the runs appended to a JSON file.
    Chart {
        /// The runs (a JSON array of reports).
        #[arg(long, default_value = "bench/results/scaling.json")]
        input: PathBuf,
        /// The PNG to write.
        #[arg(long, default_value = "bench/results/scaling.png")]
        output: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// kwok nodes to use (kwok-node-0..N-1, label type=kwok; `hack/cluster.sh nodes N`).
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pods (bare, scheduler) or tasks (operator) per workload.
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    /// Builtin frameworks the operator's tasks are spread over.
    #[arg(long, default_value_t = 10)]
    frameworks: usize,
    /// How long each pod runs (kwok.mesos.operator.dev/run-for).
    #[arg(long, default_value = "5s")]
    run_for: String,
    /// Creates in flight at once (the operator launches pods 32 at a time).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Workloads to run, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bare,scheduler,jobs,kueue,operator"
    )]
    workloads: Vec<Kind>,
    /// The Kueue binary (`hack/tools.sh kueue` builds it) and its CRDs' directory.
    #[arg(long, default_value_t = kueue::default_bin())]
    kueue_bin: String,
    /// The operator binary.
    #[arg(long, default_value = "target/release/mesos-operator")]
    operator_bin: PathBuf,
    /// Port of the operator's metrics server.
    #[arg(long, default_value_t = 28391)]
    metrics_port: u16,
    /// An extra argument for `mesos-operator run` (repeatable), e.g.
    /// `--operator-arg=--task-events=all` to measure a setting against the default.
    #[arg(long = "operator-arg", allow_hyphen_values = true)]
    operator_args: Vec<String>,
    /// Where the operator logs (default: $CLUSTER_DIR/logs/bench-operator.log).
    #[arg(long)]
    operator_log: Option<PathBuf>,
    /// hack/cluster.sh, to start and stop kube-scheduler.
    #[arg(long, default_value = "hack/cluster.sh")]
    cluster_sh: PathBuf,
    /// kube-scheduler client QPS (the operator's client has no client-side limit).
    #[arg(long, default_value_t = 5000)]
    scheduler_qps: u32,
    /// kube-scheduler client burst.
    #[arg(long, default_value_t = 10_000)]
    scheduler_burst: u32,
    /// Seconds each workload may take until all its objects finish.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// The summary to write.
    #[arg(long, default_value = "bench/results/latest.json")]
    out: PathBuf,
    /// Also append the summary to this JSON array (the scaling mode).
    #[arg(long)]
    append: Option<PathBuf>,
    /// Criterion's output directory, for the allocator benchmark's estimates.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(*args).await,
        Command::Chart { input, output } => {
            let runs = report::load_all(&input)?;
            chart::draw(&runs, &output)?;
            eprintln!("wrote {} ({} runs)", output.display(), runs.len());
            Ok(())
        }
    }
}

async fn run(args: RunArgs) -> Result<()> {
    if stats::parse_run_for(&args.run_for).is_none() {
        bail!("--run-for {:?} is not a duration", args.run_for);
    }
    if args.frameworks == 0 || args.tasks == 0 || args.nodes == 0 {
        bail!("--nodes, --tasks and --frameworks must be at least 1");
    }
    let client = Client::try_default()
        .await
        .context("no cluster: set KUBECONFIG (bash bench/run.sh does)")?;
    let nodes = bench_nodes(&client, args.nodes).await?;
    let plan = Plan {
        tasks: args.tasks,
        frameworks: args.frameworks,
        run_for: args.run_for.clone(),
        concurrency: args.concurrency,
        nodes,
        timeout: Duration::from_secs(args.timeout),
    };
    let mut report = Report {
        sizes: Sizes {
            nodes: args.nodes,
            tasks: args.tasks,
            frameworks: args.frameworks,
            run_for: args.run_for.clone(),
            concurrency: args.concurrency,
            scheduler_qps: args.scheduler_qps,
            scheduler_burst: args.scheduler_burst,
        },
        machine: machine().await,
        ..Report::default()
    };
    let cleanup_timeout = Duration::from_secs(args.timeout);
    let started = Instant::now();

    for kind in args.workloads.clone() {
        let ns = kind.namespace();
        eprintln!(
            "\n== {}: {} {} on {} nodes",
            kind.name(),
            args.tasks,
            kind.objects(),
            args.nodes
        );
        // The server-side cost is read before and right after the workload (before its
        // namespace is deleted, and while Kueue or the operator still run).
        let before = control_plane::read(&client, &control_plane::cluster_dir()).await?;
        let (mut figures, cost) = match kind {
            Kind::Bare => {
                workload::create_namespace(&client, &ns).await?;
                let figures = workload::run(&client, kind, &plan).await?;
                (figures, cost_since(&client, &before, &plan).await?)
            }
            Kind::Scheduler | Kind::Jobs => {
                cluster_sh(&args, &["scheduler"]).await?;
                let measured = async {
                    workload::create_namespace(&client, &ns).await?;
                    let figures = workload::run(&client, kind, &plan).await?;
                    Ok::<_, anyhow::Error>((figures, cost_since(&client, &before, &plan).await?))
                }
                .await;
                if measured.is_err() {
                    let _ = cluster_sh(&args, &["scheduler", "stop"]).await;
                }
                measured?
            }
            Kind::Kueue => {
                cluster_sh(&args, &["scheduler"]).await?;
                let measured = run_kueue(&client, &args, &plan, &ns, &before).await;
                if measured.is_err() {
                    let _ = cluster_sh(&args, &["scheduler", "stop"]).await;
                }
                measured?
            }
            Kind::Operator => {
                let (figures, stats, cost) =
                    run_operator(&client, &args, &plan, &ns, &before).await?;
                report.operator = Some(stats);
                (figures, cost)
            }
        };
        report.server.insert(kind.name().to_string(), cost);
        if !matches!(kind, Kind::Operator | Kind::Kueue) {
            // (the operator's and Kueue's namespaces go while they run, for their finalizers)
            eprintln!("  deleting namespace {ns}");
            figures.cleanup_seconds = cleanup(&client, &ns, cleanup_timeout).await;
        }
        if kind.needs_scheduler() {
            cluster_sh(&args, &["scheduler", "stop"]).await?;
        }
        eprintln!(
            "  all running {} s, all finished {} s, cleanup {} s",
            stats::fmt_secs(figures.all_running_seconds),
            stats::fmt_secs(figures.all_finished_seconds),
            stats::fmt_secs(figures.cleanup_seconds)
        );
        report.workloads.insert(kind.name().to_string(), figures);
    }
    report.compute_ratios();
    report.allocator_criterion_ns = report::criterion_estimates(&args.criterion);
    report::write_json(&args.out, &report)?;
    if let Some(path) = &args.append {
        report::append(path, &report)?;
    }
    println!("\n{}", report.table());
    eprintln!(
        "wrote {} (whole run {:.0} s)",
        args.out.display(),
        since(started)
    );
    Ok(())
}

/// The operator workload: the operator started for `ns`, frameworks registered, tasks
/// run, usage and request counts taken, the namespace cleaned while it still runs (its
/// finalizers), then stopped.
async fn run_operator(
    client: &Client,
    args: &RunArgs,
    plan: &Plan,
    ns: &str,
    server_before: &control_plane::Reading,
) -> Result<(stats::Figures, OperatorStats, control_plane::ServerCost)> {
    let log = match &args.operator_log {
        Some(p) => p.clone(),
        None => PathBuf::from(std::env::var("CLUSTER_DIR").unwrap_or_else(|_| "/tmp".into()))
            .join("logs")
            .join("bench-operator.log"),
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    eprintln!(
        "  starting {} (log {})",
        args.operator_bin.display(),
        log.display()
    );
    let op = operator::Operator::start(
        &args.operator_bin,
        ns,
        "type=kwok",
        args.metrics_port,
        &args.operator_args,
        &log,
    )
    .await?;
    let result = async {
        // The namespace comes after the operator: a leftover one from an interrupted run
        // holds Frameworks whose finalizers only the operator removes.
        workload::create_namespace(client, ns).await?;
        workload::create_frameworks(client, ns, plan.frameworks).await?;
        let before = op.requests().await?;
        let usage_before = op.usage()?;
        let figures = workload::run(client, Kind::Operator, plan).await?;
        let cost = cost_since(client, server_before, plan).await?;
        let after = op.requests().await?;
        let usage = op.usage()?;
        let requests = requests_delta(&after, &before);
        let by_verb = by_verb(&requests);
        let tasks = plan.tasks.max(1) as f64;
        let writes = writes(&requests);
        let stats = OperatorStats {
            peak_rss_mib: usage.peak_rss_kib as f64 / 1024.0,
            cpu_seconds: usage.cpu_seconds - usage_before.cpu_seconds,
            cpu_seconds_total: usage.cpu_seconds,
            requests_per_task: by_verb
                .iter()
                .map(|(v, n)| (v.clone(), *n as f64 / tasks))
                .collect(),
            requests_by_verb: by_verb,
            requests,
            writes,
            writes_per_task: writes as f64 / tasks,
        };
        Ok::<_, anyhow::Error>((figures, stats, cost))
    }
    .await;
    let mut result = result;
    if let Ok((figures, _, _)) = &mut result {
        eprintln!("  deleting namespace {ns} (the operator still runs, for its finalizers)");
        figures.cleanup_seconds = cleanup(client, ns, Duration::from_secs(args.timeout)).await;
    }
    eprintln!("  stopping the operator (pid {})", op.pid());
    op.stop().await?;
    result
}

/// The Kueue workload: Kueue started (its CRDs installed), a ClusterQueue per tenant in
/// one fair-sharing cohort with a LocalQueue each, the Jobs run, the namespace cleaned
/// while Kueue still runs (its finalizers on Workloads), then Kueue stopped.
async fn run_kueue(
    client: &Client,
    args: &RunArgs,
    plan: &Plan,
    ns: &str,
    server_before: &control_plane::Reading,
) -> Result<(stats::Figures, control_plane::ServerCost)> {
    let log = control_plane::cluster_dir().join("logs/bench-kueue.log");
    let kueue = kueue::Kueue::start(client, &args.kueue_bin, &log).await?;
    let result = async {
        workload::create_namespace(client, ns).await?;
        kueue::create_queues(client, ns, plan).await?;
        let figures = workload::run(client, Kind::Kueue, plan).await?;
        Ok::<_, anyhow::Error>((figures, cost_since(client, server_before, plan).await?))
    }
    .await;
    let mut result = result;
    if let Ok((figures, _)) = &mut result {
        eprintln!("  deleting namespace {ns} (Kueue still runs, for its finalizers)");
        figures.cleanup_seconds = cleanup(client, ns, Duration::from_secs(args.timeout)).await;
    }
    kueue::delete_cluster_queues(client, plan).await;
    eprintln!("  stopping Kueue");
    kueue.stop().await?;
    result
}

/// What the control plane spent since `before`, per task.
async fn cost_since(
    client: &Client,
    before: &control_plane::Reading,
    plan: &Plan,
) -> Result<control_plane::ServerCost> {
    let after = control_plane::read(client, &control_plane::cluster_dir()).await?;
    Ok(control_plane::ServerCost::between(
        before, &after, plan.tasks,
    ))
}

/// Deletes the namespace and waits; a failure or timeout is reported, not fatal (the
/// next run deletes a leftover namespace before it starts).
async fn cleanup(client: &Client, ns: &str, timeout: Duration) -> Option<f64> {
    match workload::delete_namespace(client, ns, timeout).await {
        Ok(seconds) => Some(seconds),
        Err(e) => {
            eprintln!("  cleanup of {ns} did not complete: {e:#}");
            None
        }
    }
}

/// kwok-node-0..n-1, all Ready.
async fn bench_nodes(client: &Client, n: usize) -> Result<Vec<String>> {
    let api: Api<Node> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels("type=kwok"))
        .await
        .context("listing nodes")?;
    let mut ready: Vec<(usize, String)> = list
        .items
        .iter()
        .filter(|node| {
            node.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|node| {
            let name = node.name_any();
            let i = name.strip_prefix("kwok-node-")?.parse().ok()?;
            (i < n).then_some((i, name))
        })
        .collect();
    ready.sort();
    if ready.len() < n {
        bail!(
            "only {} of {n} kwok nodes are Ready: run `hack/cluster.sh nodes {n}` first",
            ready.len()
        );
    }
    Ok(ready.into_iter().map(|(_, name)| name).collect())
}

/// `bash hack/cluster.sh ARGS` with the scheduler's QPS and burst.
async fn cluster_sh(args: &RunArgs, words: &[&str]) -> Result<()> {
    let status = tokio::process::Command::new("bash")
        .arg(&args.cluster_sh)
        .args(words)
        .env("SCHEDULER_QPS", args.scheduler_qps.to_string())
        .env("SCHEDULER_BURST", args.scheduler_burst.to_string())
        .status()
        .await
        .with_context(|| format!("running {} {words:?}", args.cluster_sh.display()))?;
    if !status.success() {
        bail!("{} {words:?} failed: {status}", args.cluster_sh.display());
    }
    Ok(())
}

async fn output(program: &str, args: &[&str]) -> String {
    match tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => String::new(),
    }
}

async fn machine() -> Machine {
    let mut commit = output("git", &["rev-parse", "HEAD"]).await;
    if !output("git", &["status", "--porcelain", "--untracked-files=no"])
        .await
        .is_empty()
    {
        commit.push_str("-dirty");
    }
    let mem_total_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib / 1024);
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, usize::from),
        mem_total_mib,
        git_commit: commit,
        date: output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).await,
    }
}
