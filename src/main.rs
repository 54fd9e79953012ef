//! The `mesos-operator` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mesos_operator::runtime::Settings;
use mesos_operator::runtime::telemetry::{self, LogFormat};

/// Apache Mesos' frameworks, offers, tasks and reconciliation as a Kubernetes operator.
#[derive(Parser, Debug)]
#[command(name = "mesos-operator", version, about)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    /// Log filter in RUST_LOG syntax, e.g. `info` or `mesos_operator=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up
enum Command {
    /// Run the controllers against the cluster of the current kubeconfig (or in-cluster).
    Run(Settings),
    /// Print every CustomResourceDefinition as YAML.
    Crds {
        /// Write one file per kind into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        split: Option<std::path::PathBuf>,
    },
    /// Print a one-screen summary of the cluster, like the Mesos master's front page:
    /// resources, frameworks (role, share, tasks by state), agents, outstanding offers.
    State {
        /// Only the Frameworks, Tasks and Offers of this namespace (default: all).
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// List at most this many agents and offers.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { split } => {
            let result = match split {
                Some(dir) => mesos_operator::cli::crds::write_all(&dir),
                None => mesos_operator::cli::crds::all_yaml().map(|yaml| print!("{yaml}")),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::State { namespace, limit } => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(mesos_operator::cli::state::run(namespace.as_deref(), limit)) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run(settings) => {
            telemetry::init(cli.log_format, &cli.log_level);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(mesos_operator::runtime::run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "operator stopped");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
