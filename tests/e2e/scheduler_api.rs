//! The Mesos v1 scheduler HTTP API against a real API server, driven by clients we did
//! not write: pymesos 0.3.15 (JSON) and Python's `protobuf` classes generated from the
//! vendored `.proto` files (protobuf), plus raw HTTP for malformed input.
//!
//! The Python 3.10 venv comes from tests/clients/setup.sh (cached; these tests fail,
//! never skip, without Python 3.10).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use mesos_operator::api::{Framework, SchedulerKind, Task, TaskState};
use serde_json::{Value, json};

use crate::process::strip_ansi;
use crate::support::TestEnv;

fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/setup.sh");
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
    })
}

/// An operator serving the scheduler API on a free port, anonymous access allowed;
/// returns the environment and the API's `host:port`.
async fn api_env(name: &str, extra: &[&str]) -> (TestEnv, String) {
    let mut args = vec![
        "--scheduler-api-addr",
        "127.0.0.1:0",
        "--scheduler-api-allow-anonymous",
    ];
    args.extend_from_slice(extra);
    let env = TestEnv::with_args(name, &args).await;
    let addr = wait_api_addr(&env, 0);
    (env, addr)
}

/// The address the operator's `n`th start logged for the scheduler API.
fn wait_api_addr(env: &TestEnv, n: usize) -> String {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let log = strip_ansi(&std::fs::read_to_string(&env.log).unwrap_or_default());
        let found: Vec<String> = log
            .lines()
            .filter(|l| l.contains("serving the Mesos scheduler API"))
            .filter_map(|l| {
                let at = l.find("addr=")? + 5;
                Some(l[at..].split_whitespace().next()?.to_string())
            })
            .collect();
        if let Some(addr) = found.get(n)
            && http(addr, "GET", "/health", &[], b"").0 == 200
        {
            return addr.clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the scheduler API never served; log:\n{}", env.log_tail(40));
}

/// A run's record without its long offer list, for messages.
fn brief(record: &Value) -> String {
    let mut short = record.clone();
    if let Some(obj) = short.as_object_mut() {
        obj.remove("offer_ids");
    }
    short.to_string()
}

/// Runs tests/clients/`script` in the venv; (exit success, last stdout line as JSON, stderr).
fn python(script: &str, args: &[&str], envs: &[(&str, &str)]) -> (bool, Value, String) {
    let venv = venv();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let output = Command::new(venv.join("bin/python"))
        .arg(&path)
        .args(args)
        .env("PYTHONPATH", venv.join("mesos_pb"))
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let record = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    (output.status.success(), record, stderr)
}

/// A raw HTTP/1.1 request; (status, lowercase headers, body). Reads until the server
/// closes or `Content-Length` is reached; chunked bodies are returned undecoded.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, Vec::new(), Vec::new());
    };
    // Generous: on a loaded 2-core machine a debug operator can take seconds to answer,
    // and a timeout would read as status 0, not as the answer under test.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let _ = stream.write_all(request.as_bytes());
    let _ = stream.write_all(body);
    read_response(&mut stream, false)
}

fn read_response(stream: &mut TcpStream, head_only: bool) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return (0, Vec::new(), buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    if head_only {
        return (status, headers, body);
    }
    let length: Option<usize> = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok());
    while length.is_none_or(|l| body.len() < l) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A SUBSCRIBE stream read with raw HTTP: its stream id and a reader of its events.
struct Subscription {
    stream: TcpStream,
    stream_id: String,
    framework_id: String,
    pending: Vec<u8>,
    decoder: mesos_proto::recordio::RecordDecoder,
}

impl Subscription {
    fn open(addr: &str, name: &str) -> Subscription {
        Subscription::open_with(addr, name, "")
    }

    /// SUBSCRIBE with `extra` header lines (each ending in CRLF).
    fn open_with(addr: &str, name: &str, extra: &str) -> Subscription {
        Subscription::open_info(addr, json!({"user": "root", "name": name}), extra)
    }

    /// SUBSCRIBE with this FrameworkInfo.
    fn open_info(addr: &str, info: Value, extra: &str) -> Subscription {
        let body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}).to_string();
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let request = format!(
            "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("write");
        let (status, headers, rest) = read_response(&mut stream, true);
        assert_eq!(status, 200, "SUBSCRIBE answered {status}");
        assert_eq!(header(&headers, "transfer-encoding"), Some("chunked"));
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
        assert!(header(&headers, "content-length").is_none());
        let stream_id = header(&headers, "mesos-stream-id")
            .expect("Mesos-Stream-Id")
            .to_string();
        let mut sub = Subscription {
            stream,
            stream_id,
            framework_id: String::new(),
            pending: rest,
            decoder: mesos_proto::recordio::RecordDecoder::new(16 << 20),
        };
        let first = sub.next_event();
        assert_eq!(first["type"], "SUBSCRIBED", "{first}");
        assert_eq!(first["subscribed"]["heartbeat_interval_seconds"], 15.0);
        sub.framework_id = first["subscribed"]["framework_id"]["value"]
            .as_str()
            .expect("id")
            .to_string();
        assert_eq!(sub.next_event()["type"], "HEARTBEAT");
        sub
    }

    /// The operator API's SUBSCRIBE stream (JSON), read with raw HTTP.
    fn operator(addr: &str) -> Subscription {
        let body = json!({"type": "SUBSCRIBE"}).to_string();
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let request = format!(
            "POST /api/v1 HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("write");
        let (status, headers, rest) = read_response(&mut stream, true);
        assert_eq!(status, 200, "operator SUBSCRIBE answered {status}");
        assert_eq!(header(&headers, "transfer-encoding"), Some("chunked"));
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
        Subscription {
            stream,
            stream_id: String::new(),
            framework_id: String::new(),
            pending: rest,
            decoder: mesos_proto::recordio::RecordDecoder::new(16 << 20),
        }
    }

    /// The next event (decoding the chunked body and RecordIO on the way).
    fn next_event(&mut self) -> Value {
        loop {
            if let Ok(Some(record)) = self.decoder.next_record() {
                return serde_json::from_slice(&record).expect("a JSON event");
            }
            // One chunk: hex size, CRLF, data, CRLF.
            while let Some(line_end) = self.pending.windows(2).position(|w| w == b"\r\n") {
                let size = usize::from_str_radix(
                    std::str::from_utf8(&self.pending[..line_end])
                        .unwrap_or("0")
                        .trim(),
                    16,
                )
                .unwrap_or(0);
                if self.pending.len() < line_end + 2 + size + 2 {
                    break;
                }
                assert!(size > 0, "the stream ended");
                let data = self.pending[line_end + 2..line_end + 2 + size].to_vec();
                self.pending.drain(..line_end + 2 + size + 2);
                self.decoder.push(&data);
            }
            if let Ok(Some(record)) = self.decoder.next_record() {
                return serde_json::from_slice(&record).expect("a JSON event");
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the stream closed"),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading the stream: {e}"),
            }
        }
    }

    /// The next event if one comes within `wait`.
    fn try_next_event(&mut self, wait: Duration) -> Option<Value> {
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let started = Instant::now();
        let result = loop {
            if let Ok(Some(record)) = self.decoder.next_record() {
                break serde_json::from_slice(&record).ok();
            }
            while let Some(line_end) = self.pending.windows(2).position(|w| w == b"\r\n") {
                let size = usize::from_str_radix(
                    std::str::from_utf8(&self.pending[..line_end])
                        .unwrap_or("0")
                        .trim(),
                    16,
                )
                .unwrap_or(0);
                if self.pending.len() < line_end + 2 + size + 2 {
                    break;
                }
                let data = self.pending[line_end + 2..line_end + 2 + size].to_vec();
                self.pending.drain(..line_end + 2 + size + 2);
                self.decoder.push(&data);
            }
            if let Ok(Some(record)) = self.decoder.next_record() {
                break serde_json::from_slice(&record).ok();
            }
            if started.elapsed() >= wait {
                break None;
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the stream closed"),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(_) => break None,
            }
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        result
    }

    /// Acknowledges an UPDATE event that carries a uuid.
    fn ack(&self, addr: &str, update: &Value) {
        let status = &update["update"]["status"];
        if let Some(uuid) = status.get("uuid") {
            let ack = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": self.framework_id},
                "acknowledge": {"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": uuid}});
            assert_eq!(self.call(addr, ack), 202);
        }
    }

    /// Events until one of `kind` (others skipped, at most 30 s).
    fn wait_for(&mut self, kind: &str) -> Value {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let event = self.next_event();
            if event["type"] == kind {
                return event;
            }
        }
        panic!("no {kind} event");
    }

    fn call(&self, addr: &str, call: Value) -> u16 {
        http(
            addr,
            "POST",
            "/api/v1/scheduler",
            &[
                ("Content-Type", "application/json"),
                ("Mesos-Stream-Id", &self.stream_id),
            ],
            call.to_string().as_bytes(),
        )
        .0
    }
}

async fn tasks_of(env: &TestEnv) -> Vec<Task> {
    let api: Api<Task> = env.api();
    api.list(&ListParams::default())
        .await
        .expect("list tasks")
        .items
}

#[tokio::test]
async fn pymesos_runs_200_tasks_decline_suppress_revive_reconcile_kill() {
    let (env, addr) = api_env("mesos-pymesos", &[]).await;
    let started = Instant::now();
    let (ok, record, stderr) = python("pymesos_scheduler.py", &[&addr, "batch", "200"], &[]);
    let elapsed = started.elapsed();
    assert!(
        ok,
        "pymesos scenario failed: {record}\n{stderr}\n{}",
        env.log_tail(30)
    );
    assert_eq!(record["errors"], json!([]));
    let final_states = record["final"].as_object().expect("final states");
    assert_eq!(final_states.len(), 201);
    for (id, state) in final_states {
        let expected = match id.as_str() {
            "t-0" => "TASK_FAILED",
            "long" => "TASK_KILLED",
            _ => "TASK_FINISHED",
        };
        assert_eq!(state, expected, "{id}");
    }
    // Every update carried a uuid and pymesos acknowledged it, except the master's own
    // answers to launches refused at ACCEPT (an offer rescinded under them; the scheduler
    // relaunched those under new ids), which carry none, as in Mesos.
    let count = |key: &str| record[key].as_u64().unwrap_or(0);
    assert!(count("master_updates") <= count("relaunched"), "{record}");
    assert_eq!(
        count("acked") + count("master_updates"),
        count("updates"),
        "{record}"
    );
    assert!(count("acked") >= 201, "{record}");
    // Explicit reconciliation: a finished task and one never known; implicit: the one
    // task still running.
    assert_eq!(
        record["reconcile"],
        json!({"t-1": "TASK_FINISHED", "ghost": "TASK_LOST"})
    );
    assert_eq!(record["implicit"], json!(["TASK_RUNNING"]));
    // Declined offers are never offered again; REVIVE brings offers after SUPPRESS.
    let declined: Vec<&Value> = record["declined"]
        .as_array()
        .expect("declined")
        .iter()
        .collect();
    assert!(!declined.is_empty());
    let offered = record["offer_ids"].as_array().expect("offer ids");
    for id in &declined {
        assert_eq!(
            offered.iter().filter(|o| o == id).count(),
            1,
            "{id} offered again"
        );
    }
    assert!(record["offers_after_revive"].as_u64().unwrap_or(0) > 0);

    // Everything the framework did is visible as objects.
    let fw_id = record["framework_id"].as_str().expect("framework id");
    let frameworks: Api<Framework> = env.api();
    let fws = frameworks
        .list(&ListParams::default())
        .await
        .expect("frameworks")
        .items;
    assert_eq!(fws.len(), 1);
    assert_eq!(fws[0].metadata.uid.as_deref(), Some(fw_id));
    assert_eq!(fws[0].spec.scheduler, SchedulerKind::External);
    let tasks = tasks_of(&env).await;
    let relaunched = record["relaunched"].as_u64().unwrap_or(0) as usize;
    // A launch refused at ACCEPT (its offer already gone) never became a Task; one
    // accepted and then found on a vanished offer did, and ended TASK_LOST.
    let created = 201 + relaunched - count("master_updates") as usize;
    assert_eq!(
        tasks.len(),
        created,
        "one Task per accepted launch: {record}"
    );
    let agents: std::collections::HashSet<String> = tasks
        .iter()
        .filter_map(|t| t.status.as_ref().and_then(|s| s.agent.clone()))
        .collect();
    assert!(agents.len() > 1, "tasks ran on {agents:?}");
    assert!(tasks.iter().all(|t| t.spec.offer.is_some()));

    // /state and /metrics/snapshot tell the same story.
    let (status, _, body) = http(&addr, "GET", "/state", &[], b"");
    assert_eq!(status, 200);
    let state: Value = serde_json::from_slice(&body).expect("state JSON");
    assert_eq!(state["version"], "1.11.0");
    let fw = state["frameworks"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["id"] == fw_id))
        .expect("the framework in /state");
    assert_eq!(fw["name"], "pymesos-batch");
    assert_eq!(fw["user"], "root");
    assert_eq!(fw["failover_timeout"], 60.0);
    assert_eq!(fw["tasks"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        fw["completed_tasks"].as_array().map(Vec::len),
        Some(created)
    );
    let t1 = fw["completed_tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "t-1"))
        .expect("t-1");
    assert_eq!(t1["state"], "TASK_FINISHED");
    assert_eq!(t1["framework_id"], fw_id);
    assert_eq!(t1["resources"]["cpus"], 0.01);
    assert_eq!(t1["resources"]["mem"], 8.0);
    assert!(state["slaves"].as_array().is_some_and(|s| s.len() >= 2));
    let (status, _, body) = http(&addr, "GET", "/metrics/snapshot", &[], b"");
    assert_eq!(status, 200);
    let metrics: Value = serde_json::from_slice(&body).expect("metrics JSON");
    assert!(
        metrics
            .as_object()
            .expect("object")
            .values()
            .all(Value::is_number)
    );
    assert_eq!(metrics["master/elected"], 1.0);
    assert_eq!(metrics["master/tasks_finished"], 199.0);
    // Launches on offers rescinded under them are answered, as in Mesos, and relaunched;
    // as in Mesos, the master's own refusals at ACCEPT count in `master/tasks_<state>`.
    let refused = metrics["master/tasks_error"].as_f64().unwrap_or(0.0)
        + metrics["master/tasks_lost"].as_f64().unwrap_or(0.0);
    assert_eq!(refused as usize, relaunched);
    assert_eq!(metrics["master/tasks_failed"], 1.0);
    assert_eq!(metrics["master/tasks_killed"], 1.0);
    assert_eq!(metrics["master/tasks_running"], 0.0);
    // Every task's terminal update (at least) was acknowledged, each ACK counted once.
    let valid = metrics["master/valid_status_update_acknowledgements"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(valid >= created as f64, "{valid}");
    assert!(valid <= record["acked"].as_f64().unwrap_or(0.0), "{valid}");
    eprintln!(
        "pymesos: 201 tasks from SUBSCRIBE to all terminal in {:.1} s ({:.1} tasks/s)",
        record["seconds"].as_f64().unwrap_or(0.0),
        201.0 / record["seconds"].as_f64().unwrap_or(1.0)
    );
    let _ = elapsed;
}

#[tokio::test]
async fn pymesos_failover_keeps_the_framework_and_its_tasks() {
    let (env, addr) = api_env("mesos-failover", &[]).await;
    let (ok, first, stderr) = python("pymesos_scheduler.py", &[&addr, "start", "6"], &[]);
    assert!(
        ok,
        "start failed: {}\n{stderr}\n{}",
        brief(&first),
        env.log_tail(30)
    );
    let fw_id = first["framework_id"]
        .as_str()
        .expect("framework id")
        .to_string();
    // The scheduler is gone (failover, not teardown): its tasks keep running.
    let (ok, second, stderr) = python("pymesos_scheduler.py", &[&addr, "resume", &fw_id], &[]);
    assert!(
        ok,
        "resume failed: {second}\n{stderr}\n{}",
        env.log_tail(30)
    );
    assert_eq!(second["framework_id"], fw_id.as_str());
    let finals = second["final"].as_object().expect("final");
    assert_eq!(finals.len(), 6, "{}", brief(&second));
    assert!(
        finals.values().all(|s| s == "TASK_FINISHED"),
        "{}",
        brief(&second)
    );
    let tasks = tasks_of(&env).await;
    let relaunched = first["relaunched"].as_u64().unwrap_or(0) as usize;
    assert_eq!(tasks.len(), 6 + relaunched, "no task duplicated");
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t.state() == Some(TaskState::Finished))
            .count(),
        6
    );
    let frameworks: Api<Framework> = env.api();
    assert_eq!(
        frameworks
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn protobuf_client_runs_tasks() {
    let (env, addr) = api_env("mesos-protobuf", &[]).await;
    let (ok, record, stderr) = python("protobuf_scheduler.py", &[&addr, "40"], &[]);
    assert!(
        ok,
        "protobuf scenario failed: {record}\n{stderr}\n{}",
        env.log_tail(30)
    );
    let finals = record["final"].as_object().expect("final");
    assert_eq!(finals.len(), 40);
    assert!(finals.values().all(|s| s == "TASK_FINISHED"), "{record}");
    assert_eq!(record["content_type"], "application/x-protobuf");
    assert_eq!(record["bad_launch"], "TASK_ERROR");
    assert_eq!(tasks_of(&env).await.len(), 40);
}

#[tokio::test]
async fn malformed_calls_get_a_clear_4xx_and_semantic_errors_go_on_the_stream() {
    let (env, addr) = api_env("mesos-bad", &[]).await;
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        http(&addr, "POST", "/api/v1/scheduler", headers, body)
    };
    let json_ct = ("Content-Type", "application/json");
    let (status, _, body) = post(&[], b"{}");
    assert_eq!(status, 400, "no Content-Type");
    assert!(String::from_utf8_lossy(&body).contains("Content-Type"));
    assert_eq!(post(&[("Content-Type", "text/plain")], b"{}").0, 415);
    let (status, _, body) = post(&[json_ct], b"{not json");
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("JSON"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, body) = post(
        &[json_ct],
        br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}"#,
    );
    assert_eq!(status, 400, "FrameworkInfo.user is required");
    assert!(
        String::from_utf8_lossy(&body).contains("user"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        post(
            &[("Content-Type", "application/x-protobuf")],
            &[0xff, 0xff, 0xff]
        )
        .0,
        400
    );
    assert_eq!(
        post(
            &[json_ct],
            br#"{"type":"ACCEPT","framework_id":{"value":"x"}}"#
        )
        .0,
        400,
        "no accept"
    );
    let (status, _, body) = post(
        &[json_ct],
        br#"{"type":"REVIVE","framework_id":{"value":"nobody"}}"#,
    );
    assert_eq!(status, 400, "a call before SUBSCRIBE");
    assert!(String::from_utf8_lossy(&body).contains("Framework cannot be found"));
    // A 100 MiB body is refused without being read.
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        100 << 20
    );
    stream.write_all(head.as_bytes()).expect("write");
    let mut writer = stream.try_clone().expect("clone");
    let feeder = std::thread::spawn(move || {
        let block = vec![b' '; 1 << 20];
        for _ in 0..100 {
            if writer.write_all(&block).is_err() {
                break;
            }
        }
    });
    assert_eq!(read_response(&mut stream, true).0, 413);
    drop(stream);
    let _ = feeder.join();

    let mut a = Subscription::open(&addr, "a");
    let mut b = Subscription::open(&addr, "b");
    let kill = |fw: &str| json!({"type": "KILL", "framework_id": {"value": fw}, "kill": {"task_id": {"value": "nope"}}});
    // Stream ids: missing or another subscription's.
    assert_eq!(
        post(&[json_ct], kill(&a.framework_id).to_string().as_bytes()).0,
        400
    );
    assert_eq!(
        post(
            &[json_ct, ("Mesos-Stream-Id", &b.stream_id)],
            kill(&a.framework_id).to_string().as_bytes()
        )
        .0,
        400
    );
    let ack = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": a.framework_id}, "acknowledge": {"agent_id": {"value": "n"}, "task_id": {"value": "t"}, "uuid": "AAEC"}});
    assert_eq!(a.call(&addr, ack), 400, "a uuid must be 16 bytes");
    // Semantic errors: 202, answered on the stream.
    assert_eq!(a.call(&addr, kill(&a.framework_id)), 202);
    let update = a.wait_for("UPDATE");
    assert_eq!(update["update"]["status"]["state"], "TASK_LOST");
    assert_eq!(update["update"]["status"]["source"], "SOURCE_MASTER");
    assert!(update["update"]["status"].get("uuid").is_none());
    // Framework a launches on b's offer: TASK_LOST, REASON_INVALID_OFFERS.
    let offers = b.wait_for("OFFERS");
    let offer = &offers["offers"]["offers"][0];
    let launch = json!({"type": "ACCEPT", "framework_id": {"value": a.framework_id}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
            "name": "steal", "task_id": {"value": "steal"}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}, {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}],
            "command": {"value": "true"}}]}}]}});
    assert_eq!(a.call(&addr, launch), 202);
    let update = a.wait_for("UPDATE");
    assert_eq!(update["update"]["status"]["task_id"]["value"], "steal");
    assert_eq!(update["update"]["status"]["state"], "TASK_LOST");
    assert_eq!(
        update["update"]["status"]["reason"],
        "REASON_INVALID_OFFERS"
    );
    assert!(tasks_of(&env).await.is_empty(), "nothing launched");
    // A custom executor is TASK_ERROR with a message.
    let offer = &offers["offers"]["offers"][0];
    let custom = json!({"type": "ACCEPT", "framework_id": {"value": b.framework_id}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
            "name": "exec", "task_id": {"value": "exec"}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}, {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}],
            "executor": {"executor_id": {"value": "e"}, "command": {"value": "true"}}}]}},
            // Operations this master refuses, as Mesos refuses operations: with an id
            // (operation feedback), UPDATE_OPERATION_STATUS OPERATION_ERROR; without,
            // dropped (logged).
            {"type": "RESERVE", "id": {"value": "op-reserve"}, "reserve": {"resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]}},
            {"type": "CREATE", "create": {"volumes": []}},
            // LAUNCH takes no operation id: its tasks are TASK_ERROR.
            {"type": "LAUNCH", "id": {"value": "op-launch"}, "launch": {"task_infos": [{
                "name": "with-id", "task_id": {"value": "with-id"}, "agent_id": offer["agent_id"],
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}, {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}],
                "command": {"value": "true"}}]}}]}});
    assert_eq!(b.call(&addr, custom), 202);
    let operation = b.wait_for("UPDATE_OPERATION_STATUS");
    let op = &operation["update_operation_status"]["status"];
    assert_eq!(op["operation_id"]["value"], "op-reserve", "{operation}");
    assert_eq!(op["state"], "OPERATION_ERROR");
    assert!(
        op["message"]
            .as_str()
            .is_some_and(|m| m.contains("RESERVE is not supported")),
        "{op}"
    );
    assert!(op.get("uuid").is_none(), "the master's own answer: {op}");
    let with_id = b.wait_for("UPDATE");
    assert_eq!(with_id["update"]["status"]["task_id"]["value"], "with-id");
    assert_eq!(with_id["update"]["status"]["state"], "TASK_ERROR");
    assert!(
        with_id["update"]["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot be set on LAUNCH")),
        "{with_id}"
    );
    let update = b.wait_for("UPDATE");
    assert_eq!(update["update"]["status"]["state"], "TASK_ERROR");
    assert_eq!(update["update"]["status"]["reason"], "REASON_TASK_INVALID");
    assert!(
        update["update"]["status"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("custom executors")
    );
    // The server is still fine.
    assert_eq!(http(&addr, "GET", "/health", &[], b"").0, 200);
    // The operator API: what it serves, 501 for the rest.
    let operator = |call: Value| {
        http(
            &addr,
            "POST",
            "/api/v1",
            &[json_ct],
            call.to_string().as_bytes(),
        )
    };
    let (status, _, body) = operator(json!({"type": "GET_VERSION"}));
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["type"], "GET_VERSION");
    assert_eq!(body["get_version"]["version_info"]["version"], "1.11.0");
    let (status, _, body) = operator(json!({"type": "GET_HEALTH"}));
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("JSON")["get_health"]["healthy"],
        true
    );
    let (status, _, body) = operator(json!({"type": "GET_METRICS", "get_metrics": {}}));
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    let elected = body["get_metrics"]["metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "master/elected"))
        .expect("master/elected");
    assert_eq!(elected["value"], 1.0);
    assert_eq!(operator(json!({"type": "GET_ROLES"})).0, 501);
    // TEARDOWN removes the framework; its id is then refused.
    assert_eq!(
        b.call(
            &addr,
            json!({"type": "TEARDOWN", "framework_id": {"value": b.framework_id}})
        ),
        202
    );
    let frameworks: Api<Framework> = env.api();
    let start = Instant::now();
    while frameworks
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .len()
        != 1
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "framework b was not removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn basic(principal: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}"))
    )
}

#[tokio::test]
async fn principals_from_secrets_choose_the_namespace_and_roles() {
    let env = TestEnv::with_args("mesos-auth", &["--scheduler-api-addr", "127.0.0.1:0"]).await;
    let addr = wait_api_addr(&env, 0);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = env.api();
    for (name, principal, roles) in [("alice", "alice", "*"), ("bob", "bob", "web")] {
        let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"mesos.operator.dev/principal": "true"}},
            "stringData": {"principal": principal, "secret": "s3cret", "namespace": env.ns, "roles": roles}
        }))
        .expect("secret");
        secrets
            .create(&Default::default(), &secret)
            .await
            .expect("create secret");
    }
    let subscribe = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "x"}}}).to_string();
    let json_ct = ("Content-Type", "application/json");
    // No credentials (anonymous access is off), wrong ones: 401.
    let (status, headers, _) = http(
        &addr,
        "POST",
        "/api/v1/scheduler",
        &[json_ct],
        subscribe.as_bytes(),
    );
    assert_eq!(status, 401);
    assert!(header(&headers, "www-authenticate").is_some_and(|v| v.starts_with("Basic")));
    let wrong = basic("alice", "nope");
    let (status, _, _) = http(
        &addr,
        "POST",
        "/api/v1/scheduler",
        &[json_ct, ("Authorization", &wrong)],
        subscribe.as_bytes(),
    );
    assert_eq!(status, 401);
    // bob may only use role "web": subscribing with "*" is refused on the stream.
    let bob = basic("bob", "s3cret");
    let (status, _, body) = http(
        &addr,
        "POST",
        "/api/v1/scheduler",
        &[json_ct, ("Authorization", &bob)],
        subscribe.as_bytes(),
    );
    assert_eq!(status, 200);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("ERROR") && body.contains("Not authorized to use role '*'"),
        "{body}"
    );
    // alice's pymesos scheduler (HTTP Basic, as pymesos sends it) runs in her namespace.
    let (ok, record, stderr) = python(
        "pymesos_scheduler.py",
        &[&addr, "start", "3"],
        &[("MESOS_PRINCIPAL", "alice"), ("MESOS_SECRET", "s3cret")],
    );
    assert!(
        ok,
        "alice's scheduler failed: {}\n{stderr}\n{}",
        brief(&record),
        env.log_tail(30)
    );
    let frameworks: Api<Framework> = env.api();
    let fws = frameworks
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    assert_eq!(fws.len(), 1);
    assert_eq!(
        fws[0].metadata.uid.as_ref(),
        record["framework_id"].as_str().map(str::to_string).as_ref()
    );
    // Another principal cannot call for alice's framework.
    let call =
        json!({"type": "REVIVE", "framework_id": {"value": record["framework_id"]}}).to_string();
    let (status, _, _) = http(
        &addr,
        "POST",
        "/api/v1/scheduler",
        &[json_ct, ("Authorization", &bob), ("Mesos-Stream-Id", "x")],
        call.as_bytes(),
    );
    assert!(status == 400 || status == 403, "{status}");
}

#[tokio::test]
async fn an_operator_restart_is_a_master_failover() {
    // A fixed port: the scheduler comes back to the same master address.
    let port = "127.0.0.1:35091";
    let mut env = TestEnv::with_args(
        "mesos-restart",
        &[
            "--scheduler-api-addr",
            port,
            "--scheduler-api-allow-anonymous",
        ],
    )
    .await;
    let addr = wait_api_addr(&env, 0);
    let (ok, first, stderr) = python("pymesos_scheduler.py", &[&addr, "start", "5"], &[]);
    assert!(
        ok,
        "start failed: {}\n{stderr}\n{}",
        brief(&first),
        env.log_tail(30)
    );
    let fw_id = first["framework_id"]
        .as_str()
        .expect("framework id")
        .to_string();
    // SIGKILL while the tasks run (no graceful shutdown, nothing flushed).
    env.kill_operator();
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.start_operator();
    let addr = wait_api_addr(&env, 1);
    let (ok, second, stderr) = python("pymesos_scheduler.py", &[&addr, "resume", &fw_id], &[]);
    assert!(
        ok,
        "resume failed: {}\n{stderr}\n{}",
        brief(&second),
        env.log_tail(30)
    );
    assert_eq!(second["framework_id"], fw_id.as_str());
    let finals = second["final"].as_object().expect("final");
    // Every task's terminal update reached the framework after the restart, none lost.
    let relaunched = first["relaunched"].as_u64().unwrap_or(0) as usize;
    assert_eq!(finals.len(), 5 + relaunched, "{}", brief(&second));
    let tasks = tasks_of(&env).await;
    assert_eq!(tasks.len(), 5 + relaunched, "no task duplicated");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = env.api();
    let pods = pods.list(&ListParams::default()).await.expect("pods").items;
    assert_eq!(
        pods.len(),
        tasks
            .iter()
            .filter(|t| t.status.as_ref().is_some_and(|s| s.pod.is_some()))
            .count(),
        "one pod per launched task"
    );
    for task in tasks
        .iter()
        .filter(|t| t.state() == Some(TaskState::Finished))
    {
        let id = task
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("mesos.operator.dev/task-id"))
            .expect("task id");
        assert_eq!(
            finals.get(id.as_str()).and_then(Value::as_str),
            Some("TASK_FINISHED"),
            "{id}"
        );
    }
}

fn api_addr_in(log: &str) -> Option<String> {
    strip_ansi(log)
        .lines()
        .find(|l| l.contains("serving the Mesos scheduler API"))
        .and_then(|l| {
            let at = l.find("addr=")? + 5;
            Some(l[at..].split_whitespace().next()?.to_string())
        })
}

/// One of two leader-electing operator replicas of namespace `ns`, its scheduler API on
/// a port of its own (short leases, so a failover takes seconds).
fn replica(ns: &str, name: &str) -> crate::process::Operator {
    crate::process::Operator::start(
        ns,
        name,
        &[
            "--namespace",
            ns,
            "--leader-elect",
            "--leader-election-identity",
            name,
            "--leader-election-lease-duration",
            "4s",
            "--leader-election-renew-grace",
            "2s",
            "--metrics-addr",
            "127.0.0.1:0",
            "--scheduler-api-addr",
            "127.0.0.1:0",
            "--scheduler-api-allow-anonymous",
            "--node-selector",
            "!e2e-pool",
        ],
        Path::new(&crate::support::kubeconfig()),
    )
}

/// The scheduler API addresses of the replica that leads (`/health` 200) and of one that
/// stands by (503), once exactly one leads.
async fn leader_and_standby(replicas: &[&crate::process::Operator]) -> (String, String) {
    let began = Instant::now();
    loop {
        let logs: Vec<String> = replicas.iter().map(|r| r.log_tail(20)).collect();
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "no leader:\n{}",
            logs.join("\n")
        );
        let addrs: Vec<String> = replicas
            .iter()
            .filter_map(|r| api_addr_in(&r.log_text()))
            .collect();
        if addrs.len() == replicas.len() {
            let health: Vec<u16> = addrs
                .iter()
                .map(|a| http(a, "GET", "/health", &[], b"").0)
                .collect();
            let leader = health.iter().position(|h| *h == 200);
            let standby = health.iter().position(|h| *h == 503);
            if let (Some(l), Some(s)) = (leader, standby)
                && health.iter().filter(|h| **h == 200).count() == 1
            {
                return (addrs[l].clone(), addrs[s].clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A leader failover with two replicas, the way a framework pointed at the chart's
/// Service sees it: the framework subscribes through the standby (which redirects it to
/// the leader) and starts its tasks; the leader is SIGKILLed while they run; the standby
/// takes the Lease over, and the framework, re-subscribing with its id where it first
/// went, gets its framework back with every task, each ending once, with no pod doubled.
#[tokio::test]
async fn a_leader_failover_keeps_the_framework_and_its_tasks() {
    let env = TestEnv::without_operator("mesos-leader-failover").await;
    let (mut a, mut b) = (replica(&env.ns, "a"), replica(&env.ns, "b"));
    let (leader, standby) = leader_and_standby(&[&a, &b]).await;
    let (ok, first, stderr) = python("pymesos_scheduler.py", &[&standby, "start", "6"], &[]);
    assert!(
        ok,
        "start via the standby failed: {}\n{stderr}",
        brief(&first)
    );
    let fw_id = first["framework_id"]
        .as_str()
        .expect("framework id")
        .to_string();
    // SIGKILL the leader while the tasks run.
    let survivor = if api_addr_in(&a.log_text()).as_deref() == Some(leader.as_str()) {
        a.kill();
        &b
    } else {
        b.kill();
        &a
    };
    let began = Instant::now();
    while http(&standby, "GET", "/health", &[], b"").0 != 200 {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "the standby never took over:\n{}",
            survivor.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (ok, second, stderr) = python("pymesos_scheduler.py", &[&standby, "resume", &fw_id], &[]);
    assert!(
        ok,
        "resume on the new leader failed: {}\n{stderr}\n{}",
        brief(&second),
        survivor.log_tail(30)
    );
    assert_eq!(second["framework_id"], fw_id.as_str());
    // Launches refused at ACCEPT never became tasks; every other one is known to the new
    // leader.
    let count = |key: &str| first[key].as_u64().unwrap_or(0) as usize;
    let created = 6 + count("relaunched") - count("master_updates");
    let finals = second["final"].as_object().expect("final");
    assert_eq!(finals.len(), created, "{}", brief(&second));
    assert!(
        finals.values().all(|s| s == "TASK_FINISHED"),
        "{}",
        brief(&second)
    );
    let tasks = tasks_of(&env).await;
    assert_eq!(tasks.len(), created, "no task duplicated");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = env.api();
    let pods = pods.list(&ListParams::default()).await.expect("pods").items;
    assert_eq!(
        pods.len(),
        tasks
            .iter()
            .filter(|t| t.status.as_ref().is_some_and(|s| s.pod.is_some()))
            .count(),
        "one pod per launched task"
    );
}

#[tokio::test]
async fn a_standby_redirects_to_the_leader() {
    let env = TestEnv::without_operator("mesos-standby").await;
    let (a, b) = (replica(&env.ns, "a"), replica(&env.ns, "b"));
    let (leader, standby) = leader_and_standby(&[&a, &b]).await;
    let subscribe = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "x"}}}).to_string();
    let redirect = Instant::now();
    let location = loop {
        let (status, headers, _) = http(
            &standby,
            "POST",
            "/api/v1/scheduler",
            &[("Content-Type", "application/json")],
            subscribe.as_bytes(),
        );
        if status == 307 {
            break header(&headers, "location").unwrap_or_default().to_string();
        }
        assert_eq!(
            status, 503,
            "a standby answers 307 (or 503 before the leader recorded its address)"
        );
        assert!(
            redirect.elapsed() < Duration::from_secs(30),
            "the standby never redirected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(location, format!("//{leader}/api/v1/scheduler"));
    // The operator API too.
    let (status, headers, _) = http(
        &standby,
        "POST",
        "/api/v1",
        &[("Content-Type", "application/json")],
        br#"{"type":"GET_STATE"}"#,
    );
    assert_eq!(status, 307);
    assert_eq!(
        header(&headers, "location"),
        Some(format!("//{leader}/api/v1").as_str())
    );
    // pymesos pointed at the standby follows the redirect and runs its tasks.
    let (ok, record, stderr) = python("pymesos_scheduler.py", &[&standby, "run", "5"], &[]);
    assert!(
        ok,
        "pymesos via the standby failed: {}\n{stderr}",
        brief(&record)
    );
    let finals = record["final"].as_object().expect("final");
    assert!(
        finals.len() >= 5 && finals.values().filter(|s| *s == "TASK_FINISHED").count() == 5,
        "{}",
        brief(&record)
    );
}

/// Starts tests/clients/`script` in the venv and waits for its first stdout line;
/// the child's remaining stdout is read when it is joined.
fn python_spawn(
    script: &str,
    args: &[&str],
) -> (String, std::thread::JoinHandle<(bool, Value, String)>) {
    use std::io::BufRead;
    let venv = venv();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let mut child = Command::new(venv.join("bin/python"))
        .arg(&path)
        .args(args)
        .env("PYTHONPATH", venv.join("mesos_pb"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    let _ = stdout.read_line(&mut first);
    let handle = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let ok = child.wait().map(|s| s.success()).unwrap_or(false);
        let record = rest
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        (ok, record, stderr)
    });
    (first.trim().to_string(), handle)
}

fn operator_call(addr: &str, call: Value) -> Value {
    let (status, headers, body) = http(
        addr,
        "POST",
        "/api/v1",
        &[("Content-Type", "application/json")],
        call.to_string().as_bytes(),
    );
    assert_eq!(
        status,
        200,
        "{call} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    serde_json::from_slice(&body).expect("a JSON answer")
}

fn scalar_of(resources: &Value, name: &str) -> f64 {
    resources
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == name)
        .filter_map(|r| r["scalar"]["value"].as_f64())
        .sum()
}

/// The operator API and its event stream against a known workload: one framework, a
/// task that finishes and one that fails, checked field by field in JSON (raw HTTP) and
/// in protobuf (Python's classes generated from the vendored protos).
#[tokio::test]
async fn operator_api_state_and_event_stream_field_by_field() {
    let (env, addr) = api_env("mesos-operator-api", &[]).await;
    // The protobuf subscriber, open before the workload starts.
    let (first, pb_stream) = python_spawn(
        "operator_client.py",
        &[&addr, "subscribe", "90", "finish-me", "fail-me"],
    );
    assert_eq!(first, "subscribed", "{}", env.log_tail(20));
    // A JSON subscriber, read with raw HTTP.
    let mut ops = Subscription::operator(&addr);
    let subscribed = ops.next_event();
    assert_eq!(subscribed["type"], "SUBSCRIBED", "{subscribed}");
    assert_eq!(subscribed["subscribed"]["heartbeat_interval_seconds"], 15.0);
    assert!(subscribed["subscribed"]["get_state"]["get_agents"]["agents"].is_array());
    assert_eq!(ops.next_event()["type"], "HEARTBEAT");

    // The workload.
    let mut fw = Subscription::open(&addr, "op-fw");
    let offers = fw.wait_for("OFFERS");
    let offer = offers["offers"]["offers"][0].clone();
    let agent = offer["agent_id"]["value"]
        .as_str()
        .expect("agent")
        .to_string();
    let task = |id: &str, labels: Value| {
        json!({"name": id, "task_id": {"value": id}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}],
            "command": {"value": "true"}, "labels": {"labels": labels}})
    };
    let launch = json!({"type": "ACCEPT", "framework_id": {"value": fw.framework_id}, "accept": {
    "offer_ids": [offer["id"]],
    "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
        task("finish-me", json!([{"key": "kwok.mesos.operator.dev/run-for", "value": "1s"}])),
        task("fail-me", json!([{"key": "kwok.mesos.operator.dev/run-for", "value": "1s"},
                               {"key": "kwok.mesos.operator.dev/exit-code", "value": "3"}])),
    ]}}]}});
    assert_eq!(fw.call(&addr, launch), 202);
    let mut finals = std::collections::BTreeMap::new();
    while finals.len() < 2 {
        let update = fw.wait_for("UPDATE");
        let status = &update["update"]["status"];
        // Updates wait in order per task: the next comes once this one is acknowledged.
        if let Some(uuid) = status.get("uuid") {
            let ack = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fw.framework_id},
                "acknowledge": {"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": uuid}});
            assert_eq!(fw.call(&addr, ack), 202);
        }
        let state = status["state"].as_str().unwrap_or("").to_string();
        if state == "TASK_FINISHED" || state == "TASK_FAILED" {
            finals.insert(
                status["task_id"]["value"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                state,
            );
        }
    }
    assert_eq!(finals["finish-me"], "TASK_FINISHED");
    assert_eq!(finals["fail-me"], "TASK_FAILED");

    // GET_STATE in JSON, field by field.
    let state = operator_call(&addr, json!({"type": "GET_STATE"}));
    assert_eq!(state["type"], "GET_STATE");
    let get_state = &state["get_state"];
    let frameworks = get_state["get_frameworks"]["frameworks"]
        .as_array()
        .expect("frameworks");
    assert_eq!(frameworks.len(), 1, "{get_state}");
    let f = &frameworks[0];
    assert_eq!(f["framework_info"]["id"]["value"], fw.framework_id.as_str());
    assert_eq!(f["framework_info"]["name"], "op-fw");
    assert_eq!(f["framework_info"]["user"], "root");
    assert_eq!(f["active"], true);
    assert_eq!(f["connected"], true);
    assert_eq!(f["recovered"], false);
    assert!(
        f["registered_time"]["nanoseconds"].as_i64().unwrap_or(0) > 0,
        "{f}"
    );
    let completed = get_state["get_tasks"]["completed_tasks"]
        .as_array()
        .expect("completed tasks");
    assert_eq!(completed.len(), 2, "{get_state}");
    assert!(
        get_state["get_tasks"]
            .get("tasks")
            .is_none_or(|t| t == &json!([]))
    );
    for t in completed {
        let id = t["task_id"]["value"].as_str().expect("id");
        assert_eq!(t["state"], finals[id].as_str(), "{t}");
        assert_eq!(t["name"].as_str().map(|n| !n.is_empty()), Some(true));
        assert_eq!(t["framework_id"]["value"], fw.framework_id.as_str());
        assert_eq!(t["agent_id"]["value"], agent.as_str());
        assert_eq!(scalar_of(&t["resources"], "cpus"), 0.1);
        assert_eq!(scalar_of(&t["resources"], "mem"), 16.0);
        let states: Vec<&str> = t["statuses"]
            .as_array()
            .expect("statuses")
            .iter()
            .filter_map(|s| s["state"].as_str())
            .collect();
        assert!(states.contains(&"TASK_RUNNING"), "{states:?}");
        assert_eq!(states.last().copied(), Some(finals[id].as_str()));
        assert!(
            t["statuses"][0]["timestamp"].as_f64().unwrap_or(0.0) > 1.7e9,
            "{t}"
        );
    }
    // The agents are /state's slaves.
    let (_, _, body) = http(&addr, "GET", "/state", &[], b"");
    let old: Value = serde_json::from_slice(&body).expect("state");
    let agents = get_state["get_agents"]["agents"]
        .as_array()
        .expect("agents");
    let slaves = old["slaves"].as_array().expect("slaves");
    assert_eq!(agents.len(), slaves.len());
    for a in agents {
        let id = a["agent_info"]["id"]["value"].as_str().expect("agent id");
        let slave = slaves.iter().find(|s| s["id"] == id).expect("same agents");
        assert_eq!(a["agent_info"]["hostname"], slave["hostname"]);
        assert_eq!(a["version"], "1.11.0");
        assert_eq!(a["active"], true);
        assert_eq!(a["pid"], slave["pid"]);
        assert_eq!(
            scalar_of(&a["total_resources"], "cpus"),
            slave["resources"]["cpus"].as_f64().expect("cpus")
        );
    }
    assert!(
        agents
            .iter()
            .any(|a| a["agent_info"]["id"]["value"] == agent.as_str())
    );
    // The other GET calls.
    let tasks = operator_call(&addr, json!({"type": "GET_TASKS"}));
    assert_eq!(tasks["get_tasks"], get_state["get_tasks"]);
    let fws = operator_call(&addr, json!({"type": "GET_FRAMEWORKS"}));
    assert_eq!(
        fws["get_frameworks"]["frameworks"][0]["framework_info"],
        f["framework_info"]
    );
    let agents2 = operator_call(&addr, json!({"type": "GET_AGENTS"}));
    assert_eq!(
        agents2["get_agents"]["agents"].as_array().map(Vec::len),
        Some(agents.len())
    );
    let master = operator_call(&addr, json!({"type": "GET_MASTER"}));
    let info = &master["get_master"]["master_info"];
    assert_eq!(info["version"], "1.11.0");
    assert_eq!(
        info["port"].as_u64().map(|p| p.to_string()),
        addr.rsplit(':').next().map(str::to_string)
    );
    assert!(master["get_master"]["start_time"].as_f64().unwrap_or(0.0) > 1.7e9);
    let flags = operator_call(&addr, json!({"type": "GET_FLAGS"}));
    let flag = |name: &str| {
        flags["get_flags"]["flags"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == name))
            .map(|f| f["value"].clone())
    };
    assert_eq!(flag("authenticate_http_frameworks"), Some(json!("false")));
    assert_eq!(flag("version"), Some(json!("1.11.0")));
    let executors = operator_call(&addr, json!({"type": "GET_EXECUTORS"}));
    assert_eq!(executors["type"], "GET_EXECUTORS");

    // The same state in protobuf, from Python's generated classes.
    let (ok, pb, stderr) = python("operator_client.py", &[&addr, "state"], &[]);
    assert!(ok, "protobuf GET_STATE failed: {pb}\n{stderr}");
    assert_eq!(pb["type"], "GET_STATE");
    let pb_done = pb["state"]["completed_tasks"].as_array().expect("tasks");
    assert_eq!(pb_done.len(), 2, "{pb}");
    for t in pb_done {
        let id = t["task_id"].as_str().expect("id");
        assert_eq!(t["state"], finals[id].as_str());
        assert_eq!(t["framework_id"], fw.framework_id.as_str());
        assert_eq!(t["agent_id"], agent.as_str());
        assert_eq!(t["cpus"], 0.1);
        assert_eq!(t["mem"], 16.0);
        assert_eq!(t["roles"], json!(["*"]));
        assert_eq!(
            t["statuses"].as_array().and_then(|s| s.last()),
            Some(&json!(finals[id]))
        );
    }
    assert_eq!(pb["state"]["frameworks"][0]["name"], "op-fw");
    assert_eq!(pb["state"]["frameworks"][0]["user"], "root");
    assert_eq!(pb["state"]["frameworks"][0]["active"], true);
    assert_eq!(
        pb["state"]["agents"].as_array().map(Vec::len),
        Some(agents.len())
    );
    assert_eq!(pb["tasks"].as_array().map(Vec::len), Some(2));
    assert_eq!(pb["master"]["version"], "1.11.0");
    assert_eq!(pb["flags"]["version"], "1.11.0");

    // TEARDOWN: the framework leaves.
    assert_eq!(
        fw.call(
            &addr,
            json!({"type": "TEARDOWN", "framework_id": {"value": fw.framework_id}})
        ),
        202
    );
    // The JSON stream told all of it, in order, for this framework.
    let mut seen: Vec<(String, String)> = Vec::new();
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "events so far: {seen:?}"
        );
        let event = ops.next_event();
        let kind = event["type"].as_str().unwrap_or("").to_string();
        let detail = match kind.as_str() {
            "FRAMEWORK_ADDED" => {
                event["framework_added"]["framework"]["framework_info"]["id"]["value"].clone()
            }
            "FRAMEWORK_UPDATED" => {
                event["framework_updated"]["framework"]["framework_info"]["id"]["value"].clone()
            }
            "FRAMEWORK_REMOVED" => {
                event["framework_removed"]["framework_info"]["id"]["value"].clone()
            }
            "TASK_ADDED" => {
                let t = &event["task_added"]["task"];
                assert_eq!(t["framework_id"]["value"], fw.framework_id.as_str());
                t["task_id"]["value"].clone()
            }
            "TASK_UPDATED" => {
                let u = &event["task_updated"];
                assert_eq!(u["framework_id"]["value"], fw.framework_id.as_str());
                assert_eq!(u["status"]["state"], u["state"]);
                json!(format!(
                    "{}:{}",
                    u["status"]["task_id"]["value"].as_str().unwrap_or(""),
                    u["state"].as_str().unwrap_or("")
                ))
            }
            _ => continue,
        };
        seen.push((kind.clone(), detail.as_str().unwrap_or("").to_string()));
        if kind == "FRAMEWORK_REMOVED" {
            break;
        }
    }
    let position = |kind: &str, detail: &str| {
        seen.iter()
            .position(|(k, d)| k == kind && d == detail)
            .unwrap_or_else(|| panic!("no {kind} {detail} in {seen:?}"))
    };
    let added = position("FRAMEWORK_ADDED", &fw.framework_id);
    for (id, last) in [("finish-me", "TASK_FINISHED"), ("fail-me", "TASK_FAILED")] {
        let task_added = position("TASK_ADDED", id);
        let running = position("TASK_UPDATED", &format!("{id}:TASK_RUNNING"));
        let ended = position("TASK_UPDATED", &format!("{id}:{last}"));
        assert!(
            added < task_added && task_added < running && running < ended,
            "{seen:?}"
        );
    }
    assert_eq!(
        position("FRAMEWORK_REMOVED", &fw.framework_id),
        seen.len() - 1
    );
    // The protobuf stream told the same.
    let (ok, record, stderr) = pb_stream.join().expect("subscriber thread");
    assert!(ok, "protobuf SUBSCRIBE failed: {record}\n{stderr}");
    assert_eq!(record["content_type"], "application/x-protobuf");
    assert_eq!(record["heartbeat_interval_seconds"], 15.0);
    assert_eq!(
        record["final"],
        json!({"finish-me": "TASK_FINISHED", "fail-me": "TASK_FAILED"})
    );
    let events = record["events"].as_array().expect("events");
    assert_eq!(events[0]["type"], "SUBSCRIBED");
    assert_eq!(events[1]["type"], "HEARTBEAT");
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind)
            .collect::<Vec<_>>()
    };
    assert!(
        of("FRAMEWORK_ADDED")
            .iter()
            .any(|e| e["framework"]["name"] == "op-fw")
    );
    let task_added = of("TASK_ADDED");
    assert_eq!(task_added.len(), 2, "{record}");
    for e in task_added {
        assert_eq!(e["task"]["framework_id"], fw.framework_id.as_str());
        assert_eq!(e["task"]["cpus"], 0.1);
    }
    assert!(
        of("TASK_UPDATED")
            .iter()
            .all(|e| e["state"] == e["status_state"])
    );
    assert!(of("FRAMEWORK_REMOVED").iter().any(|e| e["name"] == "op-fw"));
}

/// LAUNCH_GROUP from the Python protobuf client: each group is one Task whose pod runs
/// one container per member; every member gets its own updates (acknowledged), a
/// failing group fails every member, and killing one member kills its group.
#[tokio::test]
async fn launch_group_runs_a_task_group_as_one_pod() {
    let (env, addr) = api_env("mesos-groups", &[]).await;
    let (ok, record, stderr) = python("protobuf_scheduler.py", &[&addr, "group"], &[]);
    assert!(
        ok,
        "task-group scenario failed: {record}\n{stderr}\n{}",
        env.log_tail(30)
    );
    let updates = record["updates"].as_object().expect("updates");
    let states = |id: &str| -> Vec<String> {
        updates[id]
            .as_array()
            .expect("states")
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    for id in ["ok-0", "ok-1", "ok-2"] {
        let s = states(id);
        assert_eq!(
            s.last().map(String::as_str),
            Some("TASK_FINISHED"),
            "{id}: {s:?}"
        );
        assert!(s.iter().any(|x| x == "TASK_RUNNING"), "{id}: {s:?}");
    }
    for id in ["bad-0", "bad-1"] {
        assert_eq!(
            states(id).last().map(String::as_str),
            Some("TASK_FAILED"),
            "{id}"
        );
    }
    for id in ["long-0", "long-1"] {
        assert_eq!(
            states(id).last().map(String::as_str),
            Some("TASK_KILLED"),
            "{id}"
        );
    }
    // Every update had a uuid and was acknowledged.
    assert_eq!(record["unacked"], 0, "{record}");
    // One Task and one Pod per group, with a container per member.
    let tasks = tasks_of(&env).await;
    assert_eq!(tasks.len(), 3, "one Task per group");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = env.api();
    for task in &tasks {
        let group = task
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("mesos.operator.dev/task-group"))
            .expect("a task group");
        let members: Vec<Value> = serde_json::from_str(group).expect("members");
        let pod_name = task
            .status
            .as_ref()
            .and_then(|s| s.pod.clone())
            .expect("a pod");
        let expected = match task.state() {
            Some(TaskState::Finished) => 3,
            Some(TaskState::Failed) | Some(TaskState::Killed) => 2,
            other => panic!("group ended {other:?}"),
        };
        assert_eq!(members.len(), expected);
        // Each group's resources: the executor's plus its members'.
        let cpus = mesos_operator::scheduler_api::adapter::cpus_f64(task.spec.resources.cpus);
        assert_eq!(cpus, if expected == 3 { 0.13 } else { 0.12 });
        if let Some(pod) = pods.get_opt(&pod_name).await.expect("get pod") {
            let spec = pod.spec.expect("pod spec");
            assert_eq!(spec.containers.len(), expected);
            assert_eq!(spec.node_name.as_deref(), record["agent"].as_str());
        }
    }
    // /state and the operator API list the members, not the groups.
    let (_, _, body) = http(&addr, "GET", "/state", &[], b"");
    let state: Value = serde_json::from_slice(&body).expect("state");
    let done: Vec<String> = state["frameworks"][0]["completed_tasks"]
        .as_array()
        .expect("completed")
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(done.len(), 7, "{done:?}");
    let tasks = operator_call(&addr, json!({"type": "GET_TASKS"}));
    let ok_0 = tasks["get_tasks"]["completed_tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["task_id"]["value"] == "ok-0"))
        .expect("ok-0 in GET_TASKS");
    assert_eq!(ok_0["state"], "TASK_FINISHED");
    // /metrics/snapshot counts the members too.
    let (_, _, body) = http(&addr, "GET", "/metrics/snapshot", &[], b"");
    let metrics: Value = serde_json::from_slice(&body).expect("metrics");
    assert_eq!(metrics["master/tasks_finished"], 3.0);
    assert_eq!(metrics["master/tasks_failed"], 2.0);
    assert_eq!(metrics["master/tasks_killed"], 2.0);
}

/// A ServiceAccount's token for the API server (the TokenRequest API, as `kubectl create
/// token` uses it).
async fn service_account_token(env: &TestEnv, name: &str) -> String {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let accounts: Api<ServiceAccount> = env.api();
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("account");
    accounts
        .create(&Default::default(), &account)
        .await
        .expect("create service account");
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}});
    let answer: Value = accounts
        .create_subresource("token", name, &Default::default(), &request)
        .await
        .expect("token request");
    answer["status"]["token"]
        .as_str()
        .expect("a token")
        .to_string()
}

/// Kubernetes bearer tokens: reviewed (TokenReview), then authorized (SubjectAccessReview:
/// `create` on frameworks in the ServiceAccount's namespace).
#[tokio::test]
async fn bearer_tokens_are_reviewed_and_authorized() {
    let env = TestEnv::with_args("mesos-token", &["--scheduler-api-addr", "127.0.0.1:0"]).await;
    let addr = wait_api_addr(&env, 0);
    let allowed = service_account_token(&env, "scheduler").await;
    let denied = service_account_token(&env, "stranger").await;
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = env.api();
    let role = serde_json::from_value(json!({"metadata": {"name": "frameworks"},
        "rules": [{"apiGroups": ["mesos.operator.dev"], "resources": ["frameworks"], "verbs": ["create"]}]}))
    .expect("role");
    roles
        .create(&Default::default(), &role)
        .await
        .expect("role");
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> = env.api();
    let binding = serde_json::from_value(json!({"metadata": {"name": "frameworks"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "frameworks"},
        "subjects": [{"kind": "ServiceAccount", "name": "scheduler", "namespace": env.ns}]}))
    .expect("binding");
    bindings
        .create(&Default::default(), &binding)
        .await
        .expect("binding");
    let subscribe = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "x"}}}).to_string();
    let json_ct = ("Content-Type", "application/json");
    let try_subscribe = |token: &str| {
        let auth = format!("Bearer {token}");
        let (status, _, body) = http(
            &addr,
            "POST",
            "/api/v1/scheduler",
            &[json_ct, ("Authorization", &auth)],
            subscribe.as_bytes(),
        );
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    // Not a token of this cluster: 401. Authenticated but not authorized: 403.
    assert_eq!(try_subscribe("not-a-token").0, 401);
    let (status, body) = try_subscribe(&denied);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(&format!("system:serviceaccount:{}:stranger", env.ns)),
        "{body}"
    );
    let frameworks: Api<Framework> = env.api();
    assert!(
        frameworks
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    // Allowed: the framework registers in the ServiceAccount's namespace.
    let header_line = format!("Authorization: Bearer {allowed}\r\n");
    let fw = Subscription::open_with(&addr, "token-fw", &header_line);
    let fws = frameworks
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    assert_eq!(fws.len(), 1);
    assert_eq!(
        fws[0].metadata.uid.as_deref(),
        Some(fw.framework_id.as_str())
    );
    let revive = json!({"type": "REVIVE", "framework_id": {"value": fw.framework_id}}).to_string();
    let call = |token: &str| {
        let auth = format!("Bearer {token}");
        http(
            &addr,
            "POST",
            "/api/v1/scheduler",
            &[
                json_ct,
                ("Mesos-Stream-Id", &fw.stream_id),
                ("Authorization", &auth),
            ],
            revive.as_bytes(),
        )
        .0
    };
    assert_eq!(call(&allowed), 202);
    // Another identity cannot call for it.
    assert_eq!(call(&denied), 403);
}

/// `curl` against the TLS port, trusting `ca`; (exit success, stdout).
fn curl_tls(ca: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .expect("curl");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// `--scheduler-api-tls-cert`/`--key`: the port speaks TLS with a certificate made here.
#[tokio::test]
async fn the_api_port_serves_tls() {
    let dir = std::env::temp_dir().join(format!("mesos-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let env = TestEnv::with_args(
        "mesos-tls",
        &[
            "--scheduler-api-addr",
            "127.0.0.1:0",
            "--scheduler-api-allow-anonymous",
            "--scheduler-api-tls-cert",
            &cert_s,
            "--scheduler-api-tls-key",
            &key_s,
        ],
    )
    .await;
    let start = Instant::now();
    let addr = loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            env.log_tail(30)
        );
        if let Some(addr) = api_addr_in(&std::fs::read_to_string(&env.log).unwrap_or_default()) {
            let (ok, code) = curl_tls(
                &cert,
                &[
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &format!("https://{addr}/health"),
                ],
            );
            if ok && code == "200" {
                break addr;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (ok, body) = curl_tls(
        &cert,
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"type":"GET_VERSION"}"#,
            &format!("https://{addr}/api/v1"),
        ],
    );
    assert!(ok, "{body}");
    let version: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(version["get_version"]["version_info"]["version"], "1.11.0");
    // A SUBSCRIBE stream over TLS: SUBSCRIBED, then HEARTBEAT.
    let (_, stream) = curl_tls(
        &cert,
        &[
            "-N",
            "--max-time",
            "5",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"tls"}}}"#,
            &format!("https://{addr}/api/v1/scheduler"),
        ],
    );
    let subscribed = stream.find("\"SUBSCRIBED\"").expect(&stream);
    let heartbeat = stream.find("\"HEARTBEAT\"").expect(&stream);
    assert!(subscribed < heartbeat);
    // Plain HTTP gets no HTTP answer.
    assert_ne!(http(&addr, "GET", "/health", &[], b"").0, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Status updates wait in order per task, as Mesos' status-update manager keeps them: a
/// task that finishes while its TASK_RUNNING is unacknowledged gets TASK_FINISHED only
/// after that acknowledgement, never instead of it.
#[tokio::test]
async fn updates_wait_in_order_until_acknowledged() {
    let (env, addr) = api_env("mesos-fifo", &[]).await;
    let mut fw = Subscription::open(&addr, "fifo");
    let offers = fw.wait_for("OFFERS");
    let offer = &offers["offers"]["offers"][0];
    let launch = json!({"type": "ACCEPT", "framework_id": {"value": fw.framework_id}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
            "name": "fifo", "task_id": {"value": "fifo"}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}, {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}],
            "command": {"value": "true"},
            "labels": {"labels": [{"key": "kwok.mesos.operator.dev/run-for", "value": "1s"}]}}]}}]}});
    assert_eq!(fw.call(&addr, launch), 202);
    let running = loop {
        let update = fw.wait_for("UPDATE");
        if update["update"]["status"]["state"] == "TASK_RUNNING" {
            break update;
        }
        fw.ack(&addr, &update);
    };
    // The task finishes (the Task object says so) while TASK_RUNNING is unacknowledged.
    let tasks: Api<Task> = env.api();
    let start = Instant::now();
    while !tasks
        .list(&ListParams::default())
        .await
        .expect("tasks")
        .items
        .iter()
        .any(|t| t.state() == Some(TaskState::Finished))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the task never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing but the head (no TASK_FINISHED) until it is acknowledged.
    while let Some(event) = fw.try_next_event(Duration::from_secs(2)) {
        if event["type"] == "UPDATE" {
            assert_eq!(
                event["update"]["status"]["state"], "TASK_RUNNING",
                "{event}"
            );
        }
    }
    fw.ack(&addr, &running);
    let finished = fw.wait_for("UPDATE");
    assert_eq!(
        finished["update"]["status"]["state"], "TASK_FINISHED",
        "{finished}"
    );
    assert_ne!(
        finished["update"]["status"]["uuid"],
        running["update"]["status"]["uuid"]
    );
}

/// A MULTI_ROLE framework: one Framework object per role (the first's UID is the Mesos
/// framework id), offers of every role with `allocation_info`, a launch runs in its
/// offer's role, SUPPRESS per role, and `/state` shows one framework with its roles.
#[tokio::test]
async fn a_multi_role_framework_gets_offers_in_each_role() {
    let (env, addr) = api_env("mesos-multirole", &[]).await;
    let info = json!({"user": "root", "name": "multi", "roles": ["web", "batch"],
        "capabilities": [{"type": "MULTI_ROLE"}]});
    let mut fw = Subscription::open_info(&addr, info, "");
    let frameworks: Api<Framework> = env.api();
    let objects = frameworks
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    let mut roles: Vec<&str> = objects.iter().map(|f| f.spec.role.as_str()).collect();
    roles.sort();
    assert_eq!(roles, ["batch", "web"]);
    let primary = objects
        .iter()
        .find(|f| f.spec.role == "web")
        .expect("the first role's object");
    assert_eq!(
        primary.metadata.uid.as_deref(),
        Some(fw.framework_id.as_str())
    );
    // Offers come in both roles, each carrying its role on the offer and its resources.
    let mut by_role: std::collections::BTreeMap<String, Value> = Default::default();
    let start = Instant::now();
    while by_role.len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "offers by role: {by_role:?}"
        );
        let event = fw.wait_for("OFFERS");
        for offer in event["offers"]["offers"].as_array().into_iter().flatten() {
            let role = offer["allocation_info"]["role"]
                .as_str()
                .expect("allocation_info");
            for r in offer["resources"].as_array().expect("resources") {
                assert_eq!(r["allocation_info"]["role"], role, "{offer}");
            }
            by_role
                .entry(role.to_string())
                .or_insert_with(|| offer.clone());
        }
    }
    // A launch on the batch offer runs in the batch role.
    let offer = &by_role["batch"];
    let launch = json!({"type": "ACCEPT", "framework_id": {"value": fw.framework_id}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
            "name": "in-batch", "task_id": {"value": "in-batch"}, "agent_id": offer["agent_id"],
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "allocation_info": {"role": "batch"}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}, "allocation_info": {"role": "batch"}}],
            "command": {"value": "true"},
            "labels": {"labels": [{"key": "kwok.mesos.operator.dev/run-for", "value": "1s"}]}}]}}]}});
    assert_eq!(fw.call(&addr, launch), 202);
    loop {
        let update = fw.wait_for("UPDATE");
        fw.ack(&addr, &update);
        assert_eq!(update["update"]["status"]["task_id"]["value"], "in-batch");
        if update["update"]["status"]["state"] == "TASK_FINISHED" {
            break;
        }
    }
    let tasks = tasks_of(&env).await;
    assert_eq!(tasks.len(), 1);
    let batch = objects
        .iter()
        .find(|f| f.spec.role == "batch")
        .expect("batch object");
    assert_eq!(Some(&tasks[0].spec.framework), batch.metadata.name.as_ref());
    // /state: one framework, both roles, the task in the batch role.
    let (_, _, body) = http(&addr, "GET", "/state", &[], b"");
    let state: Value = serde_json::from_slice(&body).expect("state");
    let fws = state["frameworks"].as_array().expect("frameworks");
    assert_eq!(fws.len(), 1, "{state}");
    assert_eq!(fws[0]["id"], fw.framework_id.as_str());
    assert_eq!(fws[0]["roles"], json!(["web", "batch"]));
    assert_eq!(fws[0]["completed_tasks"][0]["id"], "in-batch");
    assert_eq!(fws[0]["completed_tasks"][0]["role"], "batch");
    let (_, _, body) = http(&addr, "GET", "/metrics/snapshot", &[], b"");
    let metrics: Value = serde_json::from_slice(&body).expect("metrics");
    assert_eq!(
        metrics["master/frameworks_active"], 1.0,
        "one framework, two roles"
    );
    // SUPPRESS one role: only that role's object is suppressed.
    let suppress = json!({"type": "SUPPRESS", "framework_id": {"value": fw.framework_id},
        "suppress": {"roles": ["web"]}});
    assert_eq!(fw.call(&addr, suppress), 202);
    let start = Instant::now();
    loop {
        let objects = frameworks
            .list(&ListParams::default())
            .await
            .expect("list")
            .items;
        let suppressed: std::collections::BTreeMap<String, bool> = objects
            .iter()
            .map(|f| (f.spec.role.clone(), f.spec.offers.suppressed))
            .collect();
        if suppressed["web"] {
            assert!(!suppressed["batch"], "{suppressed:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{suppressed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // UPDATE_FRAMEWORK adds a role (its object appears) and leaves one (suppressed).
    let update = json!({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": fw.framework_id},
        "update_framework": {"framework_info": {"id": {"value": fw.framework_id}, "user": "root",
            "name": "multi", "roles": ["web", "ml"], "capabilities": [{"type": "MULTI_ROLE"}]}}});
    let status = http(
        &addr,
        "POST",
        "/api/v1/scheduler",
        &[
            ("Content-Type", "application/json"),
            ("Mesos-Stream-Id", &fw.stream_id),
        ],
        update.to_string().as_bytes(),
    )
    .0;
    assert_eq!(status, 200);
    let start = Instant::now();
    loop {
        let objects = frameworks
            .list(&ListParams::default())
            .await
            .expect("list")
            .items;
        let state: std::collections::BTreeMap<String, bool> = objects
            .iter()
            .map(|f| (f.spec.role.clone(), f.spec.offers.suppressed))
            .collect();
        if state.get("ml") == Some(&false) && state.get("batch") == Some(&true) {
            assert_eq!(
                state.get("web"),
                Some(&false),
                "not in suppressed_roles: revived"
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{state:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // TEARDOWN removes every role's object.
    assert_eq!(
        fw.call(
            &addr,
            json!({"type": "TEARDOWN", "framework_id": {"value": fw.framework_id}})
        ),
        202
    );
    let start = Instant::now();
    while !frameworks
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the frameworks were not removed"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
