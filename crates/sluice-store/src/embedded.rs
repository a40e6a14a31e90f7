//! Runs a private `redis-server` process: the embedded default for `sluice dev` and
//! the real Redis every test gets (never a shared instance, never port 6379).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub mod cluster;
mod leftover;

pub use cluster::{EmbeddedCluster, ServerTls};

/// Redis's `hash-max-listpack-value` that the embedded server runs with, and the one
/// to configure in production: with it a queued message's record (a hash whose
/// largest values are the recipients' JSON and, for a campaign, a shared body of
/// some tens of bytes) is a listpack, ~1.35 KB per queued campaign message instead of
/// ~2.1 KB with Redis's default (64), measured by `tests/bodies.rs`.
pub const RECOMMENDED_HASH_MAX_LISTPACK_VALUE: &str = "256";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedRedisError {
    #[error(
        "redis-server was not found on PATH; install it (Debian/Ubuntu: `sudo apt-get install redis-server`) or point SLUICE_REDIS_URL at a running Redis"
    )]
    NotInstalled,
    #[error("could not prepare {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not start redis-server: {0}")]
    Spawn(std::io::Error),
    #[error("redis-server did not become ready on port {port} (see {log})")]
    NotReady { port: u16, log: PathBuf },
    #[error(
        "{dir} is in use by the redis-server with pid {pid}, run by sluice (pid {parent}): is another `sluice dev` running with this data directory?"
    )]
    InUse { dir: PathBuf, pid: u32, parent: u32 },
    #[error(
        "a redis-server left by an earlier run (pid {pid}) still serves {dir} and did not stop; stop it and start again"
    )]
    Leftover { dir: PathBuf, pid: u32 },
    #[error("the redis cluster under {dir} did not form: {reason}")]
    Cluster { dir: PathBuf, reason: String },
}

pub struct EmbeddedRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl EmbeddedRedis {
    /// Starts redis-server on a free loopback port with its files under `dir`.
    /// `persist` turns on the append-only file so `sluice dev` keeps data across runs.
    pub async fn start(dir: &Path, persist: bool) -> Result<Self, EmbeddedRedisError> {
        Self::start_with(dir, persist, false).await
    }

    /// Like [`start`](Self::start), but in its own process group: a Ctrl-C at the
    /// terminal then reaches only Sluice, which drains its workers before stopping
    /// Redis (instead of Redis dying under in-flight deliveries). Where `setpriv`
    /// (util-linux) is installed, Redis also gets SIGTERM when this process dies
    /// without stopping it (SIGKILL, a crash), so it never outlives its `sluice dev`.
    ///
    /// Call it from a thread that lives as long as Redis should (the main thread,
    /// or a runtime worker): Linux sends that signal when the spawning thread ends.
    pub async fn start_detached(dir: &Path, persist: bool) -> Result<Self, EmbeddedRedisError> {
        Self::start_with(dir, persist, true).await
    }

    /// Like [`start`](Self::start), with more `redis-server` arguments after the
    /// usual ones (which they override), e.g. `["--maxmemory", "64mb"]` or
    /// `["--replicaof", "127.0.0.1", "<port>"]`.
    pub async fn start_with_args(
        dir: &Path,
        persist: bool,
        args: &[&str],
    ) -> Result<Self, EmbeddedRedisError> {
        Self::start_inner(dir, persist, false, args).await
    }

    async fn start_with(
        dir: &Path,
        persist: bool,
        detach: bool,
    ) -> Result<Self, EmbeddedRedisError> {
        Self::start_inner(dir, persist, detach, &[]).await
    }

    async fn start_inner(
        dir: &Path,
        persist: bool,
        detach: bool,
        args: &[&str],
    ) -> Result<Self, EmbeddedRedisError> {
        let (binary, dir) = prepare(dir).await?;
        let mut last_error = None;
        // A port found free can be taken before redis binds it; try a few.
        for _ in 0..5 {
            let port = free_port().map_err(EmbeddedRedisError::Spawn)?;
            match Self::spawn(&binary, &dir, port, persist, detach, args).await {
                Ok(redis) => return Ok(redis),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or(EmbeddedRedisError::NotInstalled))
    }

    /// Starts redis-server on exactly `port`, once: for callers that choose their own
    /// ports (the cluster, whose bus needs `port + 10000` free too) and retry themselves.
    async fn start_on_port(
        dir: &Path,
        port: u16,
        persist: bool,
        args: &[&str],
    ) -> Result<Self, EmbeddedRedisError> {
        let (binary, dir) = prepare(dir).await?;
        Self::spawn(&binary, &dir, port, persist, false, args).await
    }

    async fn spawn(
        binary: &Path,
        dir: &Path,
        port: u16,
        persist: bool,
        detach: bool,
        args: &[&str],
    ) -> Result<Self, EmbeddedRedisError> {
        let log = dir.join("redis.log");
        let parent_death_signal = if detach {
            find_on_path("setpriv")
        } else {
            None
        };
        let mut command = match &parent_death_signal {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "TERM", "--"]).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .arg("--port")
            .arg(port.to_string())
            .args([
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .arg("--pidfile")
            .arg(dir.join(leftover::PIDFILE))
            .args(["--save", ""])
            .args(["--appendonly", if persist { "yes" } else { "no" }])
            // A queued message's record fits a compact listpack (see the store's
            // `body`): about 40 % less memory per message than Redis's default of 64.
            .args([
                "--hash-max-listpack-value",
                RECOMMENDED_HASH_MAX_LISTPACK_VALUE,
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        #[cfg(unix)]
        if detach {
            command.process_group(0);
        }
        let child = command.spawn().map_err(EmbeddedRedisError::Spawn)?;
        let mut redis = Self {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = redis.child.try_wait() {
                break;
            }
            // Our own server, not another one that got the port first (it then
            // answers while ours is still failing to bind).
            if redis.child.id().is_some() && redis.server_pid().await == redis.child.id() {
                return Ok(redis);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = redis.child.start_kill();
        Err(EmbeddedRedisError::NotReady { port, log })
    }

    /// The pid of the server answering on our port (`INFO server`'s `process_id`).
    async fn server_pid(&self) -> Option<u32> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .ok()?;
        info.lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pid of the redis-server process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILLs redis-server (no shutdown, no append-only file flush), as a crash
    /// would, and waits for it to be gone.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Asks redis to shut down (flushing its append-only file), then makes sure it is gone.
    pub async fn stop(self) {
        self.shutdown(&[]).await;
    }

    /// `SHUTDOWN` with `args` (e.g. `NOSAVE`), then SIGKILL if redis is still there
    /// after a few seconds.
    async fn shutdown(mut self, args: &[&str]) {
        if let Ok(client) = redis::Client::open(self.url())
            && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        {
            let _ = redis::cmd("SHUTDOWN")
                .arg(args)
                .query_async::<()>(&mut conn)
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Finds redis-server and creates `dir`, returning its canonical path. Never two
/// servers on one directory: one left there by a killed parent is stopped first.
async fn prepare(dir: &Path) -> Result<(PathBuf, PathBuf), EmbeddedRedisError> {
    let binary = find_on_path("redis-server").ok_or(EmbeddedRedisError::NotInstalled)?;
    std::fs::create_dir_all(dir).map_err(|source| EmbeddedRedisError::Directory {
        path: dir.into(),
        source,
    })?;
    let dir = dir
        .canonicalize()
        .map_err(|source| EmbeddedRedisError::Directory {
            path: dir.into(),
            source,
        })?;
    leftover::stop_leftovers(&dir).await?;
    Ok((binary, dir))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/sbin"),
            PathBuf::from("/usr/local/bin"),
        ])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_on_a_taken_port_is_not_taken_for_ours() {
        let first_dir = tempfile::tempdir().expect("temp dir");
        let second_dir = tempfile::tempdir().expect("temp dir");
        let first = EmbeddedRedis::start(first_dir.path(), false)
            .await
            .expect("first starts");

        let (binary, dir) = prepare(second_dir.path()).await.expect("second dir");
        let second = EmbeddedRedis::spawn(&binary, &dir, first.port(), false, false, &[]).await;
        assert!(matches!(second, Err(EmbeddedRedisError::NotReady { .. })));
        first.stop().await;
    }
}
