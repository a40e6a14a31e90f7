//! The real `sluice` binary as a child process: started with environment settings
//! only (no config file, none of the caller's `SLUICE_*` variables), its JSON log read
//! for the address a listener announces.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub struct SluiceProcess {
    pub child: Child,
    /// The log so far, one JSON object a line (for failure messages).
    log: Arc<Mutex<Vec<String>>>,
    announced: mpsc::UnboundedReceiver<(String, SocketAddr)>,
}

impl SluiceProcess {
    /// Starts `sluice <role>` in `dir` with `env`.
    pub fn start(role: &str, dir: &Path, env: &[(String, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg(role).current_dir(dir);
        for (name, _) in std::env::vars() {
            if name.starts_with("SLUICE_") {
                command.env_remove(name);
            }
        }
        command.env("SLUICE_LOG_FORMAT", "json");
        command.env("RUST_LOG", "info");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, announced) = mpsc::unbounded_channel();
        let kept = Arc::clone(&log);
        // Reads to the end, so the child never blocks on a full pipe.
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    let fields = &entry["fields"];
                    if let (Some(message), Some(addr)) =
                        (fields["message"].as_str(), fields["addr"].as_str())
                        && let Ok(addr) = addr.parse()
                    {
                        let _ = tx.send((message.to_string(), addr));
                    }
                }
                kept.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            log,
            announced,
        }
    }

    /// The address logged with `message` (e.g. "API listening"), waiting up to 30 s.
    pub async fn address(&mut self, message: &str) -> SocketAddr {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, self.announced.recv()).await {
                Ok(Some((logged, addr))) if logged == message => return addr,
                Ok(Some(_)) => continue,
                _ => panic!("`{message}` was never logged:\n{}", self.log()),
            }
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM, as an orchestrator stops a process.
    pub fn terminate(&self) {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn exited(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("still running after {timeout:?}:\n{}", self.log()),
        }
    }
}

/// The environment a `sluice` process needs to run against `redis_url`.
pub fn base_env(redis_url: &str) -> Vec<(String, String)> {
    [
        ("SLUICE_REDIS_URL", redis_url),
        ("SLUICE_HOSTNAME", "mta.sluice.test"),
        ("SLUICE_BOUNCE_DOMAIN", "bounces.sluice.test"),
        (
            "SLUICE_DKIM_KEY_ENCRYPTION_KEY",
            crate::common::TEST_DKIM_KEK,
        ),
        ("SLUICE_DOMAINS_REQUIRE_VERIFIED", "false"),
        ("SLUICE_ADMIN_TOKEN", crate::common::ADMIN_TOKEN),
        ("SLUICE_LISTEN", "127.0.0.1:0"),
    ]
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .to_vec()
}
