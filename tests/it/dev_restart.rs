//! `sluice dev` killed outright and started again: its redis-server does not outlive
//! it, a server left on the data directory anyway is stopped (cleanly, keeping its
//! data) before a new one starts, a second `sluice dev` on the same directory is
//! refused, and after SIGTERM nothing is left. One redis-server per data directory.
//!
//! The real binary, the real redis-server; the servers of a directory are found the
//! way an operator would, by scanning `/proc` for `redis-server` processes working
//! in it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `sluice dev` and what it printed.
struct Dev {
    child: Child,
    api: String,
    key: String,
    redis_url: String,
}

/// Starts `sluice dev --data-dir data` in `dir` and waits for its banner.
async fn start_dev(dir: &Path) -> Dev {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("dev.stderr"))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", "sluice.toml", "dev", "--data-dir", "data"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut api, mut key, mut redis_url) = (None, None, None);
    let banner = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let line = line.trim();
            let second = line.split_whitespace().nth(1).map(String::from);
            if line.starts_with("API key") {
                key = line.split_whitespace().nth(2).map(String::from);
            } else if line.starts_with("API ") {
                api = second;
            } else if line.starts_with("Redis ") {
                redis_url = second;
            }
            if api.is_some() && key.is_some() && redis_url.is_some() {
                return true;
            }
        }
        false
    };
    let complete = tokio::time::timeout(Duration::from_secs(90), banner)
        .await
        .unwrap_or(false);
    assert!(
        complete,
        "sluice dev did not print its banner: {}",
        std::fs::read_to_string(dir.join("dev.stderr")).unwrap_or_default()
    );
    // Nothing more is read from stdout; keep the pipe drained all the same.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Dev {
        child,
        api: api.unwrap(),
        key: key.unwrap(),
        redis_url: redis_url.unwrap(),
    }
}

/// The pids of the `redis-server` processes whose working directory is `dir`
/// (Redis changes into its `--dir`). Zombies have none, so only live ones count.
fn redis_servers_in(dir: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|pid: &u32| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "redis-server")
                && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Waits (up to `within`) until `dir` has no redis-server; returns how long it took.
async fn until_no_server(dir: &Path, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if redis_servers_in(dir).is_empty() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// SIGTERM, then the clean exit `sluice dev` promises: status 0, no server left.
async fn stop_dev(mut dev: Dev, redis_dir: &Path) {
    signal(dev.child.id().unwrap(), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(60), dev.child.wait())
        .await
        .expect("sluice dev did not exit after SIGTERM")
        .unwrap();
    assert!(status.success(), "sluice dev exited with {status}");
    assert_eq!(redis_servers_in(redis_dir), Vec::<u32>::new());
}

/// A fresh directory for one `sluice dev`, with every listener on a free port.
fn workdir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("sluice.toml"),
        // Every listener on a free port: `sluice dev` prefers 2587 and 2465 for
        // submission when they look free, and tests running at once would race
        // (given a `listen` of its own, it opens no implicit-TLS one).
        "listen = \"127.0.0.1:0\"\ninbound_listen = \"127.0.0.1:0\"\n\
         [submission]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let redis_dir = tmp
        .path()
        .canonicalize()
        .unwrap()
        .join("data")
        .join("redis");
    (tmp, redis_dir)
}

/// A process of the test's own, killed if the test fails before it exits.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn has_setpriv() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("setpriv").is_file()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dev_leaves_no_redis_and_restarts_on_its_data() {
    let (tmp, redis_dir) = workdir();
    sluice_events::install_tls_provider(); // reqwest is built without a default one.
    let http = reqwest::Client::new();

    let first = start_dev(tmp.path()).await;
    let running = redis_servers_in(&redis_dir);
    assert_eq!(running.len(), 1, "one server while running: {running:?}");
    let sent = http
        .post(format!("{}/v1/messages", first.api))
        .bearer_auth(&first.key)
        .json(&json!({
            "from": "Sluice Dev <hello@example.test>",
            "to": ["you@example.com"],
            "subject": "kept across restarts",
            "text": "hello"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let id = sent.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let Dev {
        mut child,
        key: first_key,
        ..
    } = first;
    child.start_kill().unwrap(); // SIGKILL: no shutdown code runs.
    child.wait().await.unwrap();
    if has_setpriv() {
        let gone = until_no_server(&redis_dir, Duration::from_secs(15)).await;
        let gone = gone.expect("the redis-server outlived its SIGKILLed sluice dev");
        println!("redis-server gone {gone:?} after sluice dev was SIGKILLed");
    }

    let second = start_dev(tmp.path()).await;
    let running = redis_servers_in(&redis_dir);
    assert_eq!(
        running.len(),
        1,
        "one server after the restart: {running:?}"
    );
    let message = http
        .get(format!("{}/v1/messages/{id}", second.api))
        .bearer_auth(&first_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        message.status(),
        StatusCode::OK,
        "the first run's key and message are still there"
    );

    // A second `sluice dev` on the same data directory is refused, and the first
    // keeps its server.
    let other = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", "sluice.toml", "dev", "--data-dir", "data"])
        .current_dir(tmp.path())
        .stdin(Stdio::null())
        .output();
    let other = tokio::time::timeout(Duration::from_secs(60), other)
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success());
    assert!(stderr.contains("another `sluice dev`"), "{stderr}");
    assert_eq!(redis_servers_in(&redis_dir), running);

    stop_dev(second, &redis_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_left_on_the_data_directory_is_stopped_cleanly_first() {
    let (tmp, redis_dir) = workdir();
    std::fs::create_dir_all(&redis_dir).unwrap();

    // A server as a killed earlier run leaves it, with a key in its append-only
    // file that only a clean shutdown is sure to have written.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut left = KillOnDrop(
        std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes"])
            .arg("--dir")
            .arg(&redis_dir)
            .arg("--logfile")
            .arg(redis_dir.join("left.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        match client.get_multiplexed_async_connection().await {
            Ok(conn) => break conn,
            Err(e) => assert!(Instant::now() < deadline, "redis-server: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let _: () = redis::cmd("SET")
        .arg("left-behind")
        .arg("yes")
        .query_async(&mut conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(redis_servers_in(&redis_dir), vec![left.0.id()]);

    let started = Instant::now();
    let dev = start_dev(tmp.path()).await;
    println!("sluice dev ready {:?} after start", started.elapsed());
    let exited = left
        .0
        .try_wait()
        .unwrap()
        .expect("the left-over server still runs");
    assert!(
        exited.success(),
        "the left-over server was stopped cleanly (SIGTERM), not killed: {exited}"
    );
    let running = redis_servers_in(&redis_dir);
    assert_eq!(running.len(), 1, "{running:?}");
    assert_ne!(running[0], left.0.id());

    let mut conn = redis::Client::open(dev.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let kept: Option<String> = redis::cmd("GET")
        .arg("left-behind")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("yes"),
        "the new server has the old data"
    );
    drop(conn);

    stop_dev(dev, &redis_dir).await;
}
