//! The operator process under test: started from its release binary, probed over its
//! metrics server, measured through /proc, stopped with SIGTERM.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::stats::{Requests, cpu_ticks, parse_requests, vm_hwm_kib};

/// Linux' USER_HZ: the unit of utime/stime in /proc/PID/stat on every common platform.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// A running operator.
pub struct Operator {
    child: Child,
    pid: u32,
    metrics_port: u16,
}

/// What the operator's process used so far.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// Peak resident set size (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// utime + stime, seconds.
    pub cpu_seconds: f64,
}

impl Operator {
    /// Starts `binary run` for `namespace` on the nodes matching `node_selector`, logging
    /// to `log`, and waits until `/readyz` answers.
    pub async fn start(
        binary: &Path,
        namespace: &str,
        node_selector: &str,
        metrics_port: u16,
        extra_args: &[String],
        log: &Path,
    ) -> Result<Self> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("creating the operator log {}", log.display()))?;
        let child = Command::new(binary)
            .args([
                "run",
                "--namespace",
                namespace,
                "--node-selector",
                node_selector,
                "--metrics-addr",
                &format!("127.0.0.1:{metrics_port}"),
            ])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the operator exited at once")?;
        let mut operator = Self {
            child,
            pid,
            metrics_port,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok((200, _)) = http_get(metrics_port, "/readyz").await {
                return Ok(operator);
            }
            if let Some(status) = operator.child.try_wait()? {
                bail!(
                    "the operator exited ({status}) before it was ready; see {}",
                    log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the operator was not ready within 120 s; see {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The request counters from `/metrics`.
    pub async fn requests(&self) -> Result<Requests> {
        let (status, body) = http_get(self.metrics_port, "/metrics").await?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(parse_requests(&body))
    }

    /// Peak RSS and CPU time so far.
    pub fn usage(&self) -> Result<Usage> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        Ok(Usage {
            peak_rss_kib: vm_hwm_kib(&status).context("no VmHWM in /proc/PID/status")?,
            cpu_seconds: cpu_ticks(&stat).context("cannot parse /proc/PID/stat")? as f64
                / CLOCK_TICKS_PER_SECOND,
        })
    }

    /// SIGTERM, then SIGKILL after 20 s.
    pub async fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// A plain HTTP/1.0 GET on 127.0.0.1:`port`: status code and body.
pub async fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .context("HTTP GET timed out")??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status line")?;
    Ok((status, body.to_string()))
}
