//! The `mesos-operator` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mesos_operator::controller::{self, Settings};
use mesos_operator::telemetry::{self, LogFormat};

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
enum Command {
    /// Run the controllers against the cluster of the current kubeconfig (or in-cluster).
    Run(Settings),
    /// Print every CustomResourceDefinition as YAML.
    Crds {
        /// Write one file per kind into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        split: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { split } => {
            let result = match split {
                Some(dir) => mesos_operator::crds::write_all(&dir),
                None => mesos_operator::crds::all_yaml().map(|yaml| print!("{yaml}")),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
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
            match runtime.block_on(controller::run(settings)) {
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
