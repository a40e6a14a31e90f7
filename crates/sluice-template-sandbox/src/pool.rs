//! The parent side: a pool of sandbox processes, one request at a time each.
//!
//! A request takes an idle process (or starts one), writes one line, and reads one
//! line back within the time limit. A process that dies or times out answers only
//! for the request it was working on; it is dropped (killed and reaped) and the next
//! request starts a fresh one, so no other request is ever lost with it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value as Json};
use sluice_model::{RenderError, Rendered, TemplateBody};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::child::EXIT_TIMED_OUT;
use crate::protocol::{Reply, SUBCOMMAND, encode_request};

/// How the pool starts its processes and what each render may use.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// A `sluice` executable; each process is `<program> render-sandbox …`.
    pub program: PathBuf,
    /// Bytes one render may allocate.
    pub max_memory: u64,
    /// Wall-clock time one render may take.
    pub timeout: Duration,
    /// Processes (and so renders) at once.
    pub processes: usize,
}

/// Why the sandbox gave no render result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The render allocated past `max_memory`: the template's fault.
    #[error("the template exceeds the memory limit of {}", human_bytes(*limit_bytes))]
    MemoryLimit { limit_bytes: u64 },
    /// The render ran past `timeout`: the template's fault.
    #[error("the template took longer than {timeout:?} to render")]
    TimedOut { timeout: Duration },
    /// The process died otherwise, twice in a row with this template.
    #[error("the template crashed the renderer ({status})")]
    Crashed { status: String },
    /// No process could be started or understood: the installation's fault.
    #[error("the template renderer is unavailable: {0}")]
    Unavailable(String),
}

impl SandboxError {
    /// Whether the template (not the installation) is to blame.
    pub fn is_template_fault(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }
}

/// `16 MB` for whole mebibytes, `512 KB` for whole kibibytes, else bytes.
pub fn human_bytes(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = 1024 * KB;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else if bytes >= KB && bytes.is_multiple_of(KB) {
        format!("{} KB", bytes / KB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Renders templates in child processes; cheap to clone (one shared pool).
#[derive(Clone)]
pub struct TemplateSandbox {
    inner: Arc<Inner>,
}

struct Inner {
    config: SandboxConfig,
    idle: Mutex<Vec<SandboxProcess>>,
    slots: Semaphore,
    started: AtomicU64,
}

impl fmt::Debug for TemplateSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateSandbox")
            .field("config", &self.inner.config)
            .field("started", &self.processes_started())
            .finish()
    }
}

/// What one exchange with a process came to.
enum Exchange {
    Reply(Reply),
    TimedOut,
    /// The pipe broke or closed: the process is gone (or going).
    Died,
    /// It answered something that is not a reply (another program?).
    Garbled(String),
}

impl TemplateSandbox {
    /// A pool with no process yet: they start with the first renders.
    pub fn new(config: SandboxConfig) -> Self {
        let processes = config.processes.max(1);
        Self {
            inner: Arc::new(Inner {
                config,
                idle: Mutex::new(Vec::new()),
                slots: Semaphore::new(processes),
                started: AtomicU64::new(0),
            }),
        }
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// How many processes the pool has started so far (a replaced one counts again).
    pub fn processes_started(&self) -> u64 {
        self.inner.started.load(Ordering::Relaxed)
    }

    /// Renders a trivial template: at start, so a wrong `program` is found before
    /// the first send rather than at it.
    pub async fn check(&self) -> Result<(), SandboxError> {
        let body = TemplateBody {
            subject: "{{ word }}".into(),
            text: Some("{{ word }}".into()),
            html: None,
        };
        let mut data = Map::new();
        data.insert("word".into(), Json::from("ok"));
        match self.render(&body, &data, 1024).await? {
            Ok(rendered) if rendered.subject == "ok" => Ok(()),
            other => Err(SandboxError::Unavailable(format!(
                "a trivial template rendered as {other:?}"
            ))),
        }
    }

    /// Renders `body` with `data` in a sandbox process. The outer error is the
    /// sandbox's verdict (memory, time, crash, unavailable); the inner result is the
    /// render's own, exactly as [`TemplateBody::render`] gives it.
    pub async fn render(
        &self,
        body: &TemplateBody,
        data: &Map<String, Json>,
        max_bytes: usize,
    ) -> Result<Result<Rendered, RenderError>, SandboxError> {
        let request = encode_request(body, data, max_bytes)
            .map_err(|e| SandboxError::Unavailable(format!("cannot encode the request: {e}")))?;
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .map_err(|e| SandboxError::Unavailable(format!("render slots closed: {e}")))?;
        match self.attempt(&request).await {
            // A process can also die of something else (killed from outside while
            // idle); a fresh one decides whether it is this template.
            Err(SandboxError::Crashed { status }) => {
                tracing::warn!(%status, "template sandbox process died; retrying the render once in a new one");
                self.attempt(&request).await
            }
            other => other,
        }
    }

    async fn attempt(&self, request: &[u8]) -> Result<Result<Rendered, RenderError>, SandboxError> {
        let mut process = match self.take_idle() {
            Some(process) => process,
            None => self.spawn()?,
        };
        // The child enforces the time limit itself; this is the backstop.
        let deadline = self.inner.config.timeout + Duration::from_secs(1);
        match process.exchange(request, deadline).await {
            Exchange::Reply(reply) => {
                if reply.retire {
                    process.retire();
                } else {
                    self.put_idle(process);
                }
                Ok(reply.result)
            }
            Exchange::TimedOut => {
                process.kill().await;
                Err(SandboxError::TimedOut {
                    timeout: self.inner.config.timeout,
                })
            }
            Exchange::Died => Err(process.death(&self.inner.config).await),
            Exchange::Garbled(what) => {
                process.kill().await;
                Err(SandboxError::Unavailable(format!(
                    "{} {SUBCOMMAND} answered something else than a render reply: {what}",
                    self.inner.config.program.display()
                )))
            }
        }
    }

    fn take_idle(&self) -> Option<SandboxProcess> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(mut process) = idle.pop() {
            // One that died while idle would fail an innocent request.
            if matches!(process.child.try_wait(), Ok(None)) {
                return Some(process);
            }
        }
        None
    }

    fn put_idle(&self, process: SandboxProcess) {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(process);
    }

    fn spawn(&self) -> Result<SandboxProcess, SandboxError> {
        let config = &self.inner.config;
        let mut command = Command::new(&config.program);
        command
            .arg(SUBCOMMAND)
            .arg("--max-memory")
            .arg(config.max_memory.to_string())
            .arg("--timeout-ms")
            .arg(config.timeout.as_millis().to_string())
            // Nothing from our environment (secrets included) reaches a template.
            .env_clear()
            // Large blocks in their own mappings, returned to the system when freed,
            // so freed memory does not linger between renders.
            .env(
                "GLIBC_TUNABLES",
                "glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=131072",
            )
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("LD_LIBRARY_PATH") {
            command.env("LD_LIBRARY_PATH", path);
        }
        let unavailable = |e: io::Error| {
            SandboxError::Unavailable(format!(
                "cannot start `{} {SUBCOMMAND}`: {e}",
                config.program.display()
            ))
        };
        let mut child = command.spawn().map_err(unavailable)?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SandboxError::Unavailable("no pipes to the sandbox".into()));
        };
        let pid = child.id().unwrap_or_default();
        self.inner.started.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(pid, "template sandbox process started");
        Ok(SandboxProcess {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            stderr: tokio::spawn(read_stderr(pid, stderr)),
            pid,
        })
    }
}

/// One running sandbox process and its pipes.
struct SandboxProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Its last stderr lines, once it closes stderr (that is, ends).
    stderr: JoinHandle<Vec<String>>,
    pid: u32,
}

/// stderr lines kept to tell why a process ended.
const STDERR_KEPT: usize = 8;

/// Logs what a sandbox process says on stderr and keeps its last lines.
async fn read_stderr(pid: u32, stderr: tokio::process::ChildStderr) -> Vec<String> {
    let mut lines = BufReader::new(stderr).lines();
    let mut last = std::collections::VecDeque::with_capacity(STDERR_KEPT);
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::warn!(pid, "template sandbox: {line}");
        if last.len() == STDERR_KEPT {
            last.pop_front();
        }
        last.push_back(line);
    }
    last.into()
}

impl SandboxProcess {
    async fn exchange(&mut self, request: &[u8], deadline: Duration) -> Exchange {
        let io = async {
            self.stdin.write_all(request).await?;
            self.stdin.flush().await?;
            let mut line = Vec::new();
            self.stdout.read_until(b'\n', &mut line).await?;
            if line.last() != Some(&b'\n') {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            Ok(line)
        };
        match tokio::time::timeout(deadline, io).await {
            Err(_) => Exchange::TimedOut,
            Ok(Err(_)) => Exchange::Died,
            Ok(Ok(line)) => match serde_json::from_slice::<Reply>(&line) {
                Ok(reply) => Exchange::Reply(reply),
                Err(e) => Exchange::Garbled(e.to_string()),
            },
        }
    }

    /// Why the process ended: its exit status and last stderr lines.
    async fn death(mut self, config: &SandboxConfig) -> SandboxError {
        let status = match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                self.kill().await;
                return SandboxError::Crashed {
                    status: "its output closed but it did not exit".into(),
                };
            }
        };
        let stderr = tokio::time::timeout(Duration::from_secs(2), &mut self.stderr)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if stderr.iter().any(|l| l.contains("memory allocation of")) {
            return SandboxError::MemoryLimit {
                limit_bytes: config.max_memory,
            };
        }
        if status.and_then(|s| s.code()) == Some(EXIT_TIMED_OUT) {
            return SandboxError::TimedOut {
                timeout: config.timeout,
            };
        }
        SandboxError::Crashed {
            status: describe(status, &stderr),
        }
    }

    /// Ends the process and reaps it.
    async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        self.stderr.abort();
    }

    /// The process said it exits after its last reply: reap it in the background.
    fn retire(self) {
        let Self {
            mut child,
            stdin,
            pid,
            ..
        } = self;
        tracing::debug!(pid, "template sandbox process retires");
        drop(stdin);
        tokio::spawn(async move {
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
            }
        });
    }
}

fn describe(status: Option<ExitStatus>, stderr: &[String]) -> String {
    let status = status.map_or_else(|| "unknown exit".to_string(), |s| s.to_string());
    match stderr.last() {
        Some(line) => format!("{status}: {line}"),
        None => status,
    }
}
