//! Operator processes with arguments of the test's choosing (leader election, another
//! kubeconfig, JSON logs), their `/metrics` and probes over plain HTTP, and the tools the
//! chart tests need (helm, an impersonating kubeconfig).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::paths::{operator_binary, target_tmpdir};
use crate::support::{api_guard, kubeconfig, pool_guard};

/// Starts `mesos-operator run ARGS`, the one way every test starts an operator: the
/// test's kubeconfig, debug logs without colour (`E2E_RUST_LOG` overrides the filter), no in-cluster identity, and the guards
/// that keep parallel tests apart (a node pool of its own, a free scheduler API port)
/// unless `args` choose otherwise.
pub fn spawn_operator(
    args: &[impl AsRef<std::ffi::OsStr> + AsRef<str>],
    kubeconfig: &Path,
    (out, err): (std::fs::File, std::fs::File),
) -> Child {
    Command::new(operator_binary())
        .arg("run")
        .args(args)
        .args(pool_guard(args))
        .args(api_guard(args))
        .env("KUBECONFIG", kubeconfig)
        .env(
            "RUST_LOG",
            std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "info,mesos_operator=debug".into()),
        )
        .env("NO_COLOR", "1")
        .env_remove("POD_NAMESPACE")
        .env_remove("POD_NAME")
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the operator: {e}"))
}

/// One `mesos-operator run` process; SIGKILLed on drop.
pub struct Operator {
    child: Option<Child>,
    /// Its combined stdout and stderr.
    pub log: PathBuf,
}

impl Operator {
    /// Starts `mesos-operator run ARGS` with `kubeconfig`; `name` tells the log files apart.
    pub fn start(ns: &str, name: &str, args: &[&str], kubeconfig: &Path) -> Self {
        let dir = target_tmpdir().join("e2e-logs");
        let _ = std::fs::create_dir_all(&dir);
        let log = dir.join(format!("{ns}-{name}.log"));
        let out = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log handle: {e}"));
        let child = spawn_operator(args, kubeconfig, (out, err));
        Self {
            child: Some(child),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or_default()
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The address its metrics server bound (from the log line announcing it).
    pub fn metrics_addr(&self, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let text = strip_ansi(&self.log_text());
            if let Some(addr) = text
                .lines()
                .filter(|l| l.contains("serving /metrics"))
                .find_map(|l| {
                    let at = l.find("127.0.0.1:")?;
                    let rest = &l[at..];
                    let end = rest
                        .char_indices()
                        .skip("127.0.0.1:".len())
                        .find(|(_, c)| !c.is_ascii_digit())
                        .map(|(i, _)| i)
                        .unwrap_or(rest.len());
                    Some(rest[..end].to_string())
                })
            {
                return addr;
            }
            assert!(
                start.elapsed() < timeout,
                "the operator never announced its metrics address; log:\n{}",
                self.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: no graceful shutdown, the lease is not released.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "the operator did not exit within {timeout:?}; log:\n{}",
                self.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Removes terminal colour sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `GET path` on `addr` over HTTP/1.0; returns (status code, body), or None when nothing
/// answers.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Waits until `/readyz` answers 200 (caches synced).
pub async fn wait_ready(addr: &str, timeout: Duration) {
    let start = Instant::now();
    loop {
        let answer = http_get(addr, "/readyz");
        if answer.as_ref().is_some_and(|(code, _)| *code == 200) {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "{addr}/readyz never answered 200: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the series `series` (name with labels, exactly as exposed) in a scrape.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Scrapes `/metrics` until `series` has `value` (the caches and the status writes settle),
/// or panics with the last scrape.
pub async fn wait_metric(addr: &str, series: &str, value: f64, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        let text = http_get(addr, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        if metric(&text, series) == Some(value) {
            return text;
        }
        assert!(
            start.elapsed() < timeout,
            "{series} never became {value} within {timeout:?}; last scrape:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    crate::paths::repo_root()
}

/// A tool built by hack/tools.sh (`helm`, `kubectl`).
pub fn tool(name: &str) -> PathBuf {
    let cache = std::env::var("MESOS_OPERATOR_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/mesos-operator",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    PathBuf::from(cache).join("bin").join(name)
}

/// Runs a tool with the test cluster's kubeconfig; returns (success, stdout, stderr).
pub fn run_tool(name: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(tool(name))
        .args(args)
        .env("KUBECONFIG", kubeconfig())
        .env("HELM_CACHE_HOME", helm_home("cache"))
        .env("HELM_CONFIG_HOME", helm_home("config"))
        .env("HELM_DATA_HOME", helm_home("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool(name).display()));
    if let Some(mut input) = child.stdin.take()
        && let Some(text) = stdin
    {
        let _ = input.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{name} failed to run: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn helm_home(what: &str) -> PathBuf {
    target_tmpdir().join(format!("helm-{what}"))
}

/// Runs a tool and panics with its output unless it succeeds; returns stdout.
pub fn must(name: &str, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = run_tool(name, args, stdin);
    assert!(ok, "{name} {args:?} failed:\n{out}\n{err}");
    out
}

/// A copy of the test kubeconfig whose users impersonate `user` (the admin credentials
/// authenticate; the API server authorizes every request as `user`).
pub fn impersonating_kubeconfig(user: &str, file_name: &str) -> PathBuf {
    let text = std::fs::read_to_string(kubeconfig())
        .unwrap_or_else(|e| panic!("cannot read the kubeconfig: {e}"));
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("bad kubeconfig: {e}"));
    if let Some(users) = config
        .get_mut("users")
        .and_then(serde_yaml::Value::as_sequence_mut)
    {
        for entry in users {
            if let Some(map) = entry
                .get_mut("user")
                .and_then(serde_yaml::Value::as_mapping_mut)
            {
                map.insert("as".into(), user.into());
            }
        }
    }
    let dir = target_tmpdir().join("kubeconfigs");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(file_name);
    std::fs::write(
        &path,
        serde_yaml::to_string(&config).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}
