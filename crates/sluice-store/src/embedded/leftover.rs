//! A `redis-server` left running on a data directory by a parent that was killed
//! (SIGKILL, a crash): found and stopped before a new one starts there, so two servers
//! never write the same append-only file.
//!
//! A server is recognised by what the kernel says about it (Linux `/proc`): its name
//! is `redis-server` and its working directory is the data directory (Redis changes
//! into `--dir` at start). The pid comes from the pidfile Redis writes there and, for
//! servers started without one, from a scan of `/proc`. A pid that now names another
//! program, or a server of another directory, is never touched.
//!
//! It is stopped, not reused: a server this process did not start has options it did
//! not choose and a lifetime it cannot wait on, while SIGTERM makes Redis write its
//! append-only file and exit cleanly, so stopping loses nothing and costs well under a
//! second.

use std::path::Path;
use std::time::{Duration, Instant};

use super::EmbeddedRedisError;

/// The pidfile Redis is asked to write (`--pidfile`) in its data directory.
pub(super) const PIDFILE: &str = "redis-server.pid";

/// How long a left-over server may take to write its files and exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Stops every `redis-server` still serving `dir` (canonical). Refuses when one
/// belongs to a live `sluice` process: that is another `sluice dev` using the same
/// data directory right now.
pub(super) async fn stop_leftovers(dir: &Path) -> Result<(), EmbeddedRedisError> {
    for pid in servers_in(dir) {
        if let Some(parent) = parent_of(pid)
            && name_of(parent).as_deref() == Some("sluice")
        {
            return Err(EmbeddedRedisError::InUse {
                dir: dir.into(),
                pid,
                parent,
            });
        }
        tracing::warn!(
            pid,
            dir = %dir.display(),
            "a redis-server left by an earlier run still serves this directory; stopping it"
        );
        if !stop(dir, pid, "TERM", STOP_GRACE).await
            && !stop(dir, pid, "KILL", Duration::from_secs(3)).await
        {
            return Err(EmbeddedRedisError::Leftover {
                dir: dir.into(),
                pid,
            });
        }
    }
    Ok(())
}

/// The live `redis-server` processes whose working directory is `dir`: the one its
/// pidfile names, and any other `/proc` knows of.
pub(super) fn servers_in(dir: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_to_string(dir.join(PIDFILE))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .into_iter()
        .collect();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        pids.extend(
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok()),
        );
    }
    pids.sort_unstable();
    pids.dedup();
    pids.retain(|pid| serves(*pid, dir));
    pids
}

/// Whether `pid` is a running `redis-server` working in `dir`. A zombie has no
/// working directory, so an exited server no longer counts.
fn serves(pid: u32, dir: &Path) -> bool {
    name_of(pid).as_deref() == Some("redis-server")
        && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
}

fn name_of(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_string())
}

/// The parent pid, from `/proc/<pid>/stat` (the field after the parenthesised name,
/// which may itself contain spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Sends `signal` with the `kill` program (the workspace forbids `unsafe`, and this is
/// too rare to add a crate for), then waits up to `grace` for the server to be gone.
async fn stop(dir: &Path, pid: u32, signal: &str, grace: Duration) -> bool {
    let sent = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    if let Err(error) = sent {
        tracing::warn!(%error, pid, "could not run `kill`");
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !serves(pid, dir) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !serves(pid, dir)
}
