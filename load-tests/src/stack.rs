//! The self-contained environment: a private redis-server and `sluice serve` as a
//! subprocess relaying to our sink, with a tenant, an API key and a domain. With
//! `--split-roles`, `sluice api` and `sluice worker` instead of `serve`; with
//! `--cluster`, a Redis Cluster of 3 masters, two `sluice api` (each on its own port)
//! and two `sluice worker`.
//!
//! Every process is killed when the [`Stack`] is dropped (tokio's `kill_on_drop`),
//! so an error or an interrupted start never leaves one behind; [`Stack::stop`] is
//! the orderly way.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::cli::{Cli, DkimKind};
use crate::nodes::{Backend, Master};

/// How long `sluice serve` may take to answer `GET /readyz` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// `sluice api` and `sluice worker` processes each with `--cluster`.
const CLUSTER_PROCESSES: usize = 2;

pub struct Stack {
    dir: TempDir,
    keep_dir: bool,
    redis: Backend,
    /// The masters of `redis` (one, or the cluster's), as they were after the start.
    pub masters: Vec<Master>,
    /// `sluice serve`, or `sluice api` and `sluice worker`, or two of each.
    servers: Vec<Server>,
    /// The first API's base URL (provisioning goes there).
    pub base_url: String,
    /// Every API's base URL: the load is spread over them.
    pub base_urls: Vec<String>,
    admin_token: String,
    pub sluice_bin: PathBuf,
    pub sluice_version: String,
    pub redis_version: String,
    /// `1 redis-server` or `Redis Cluster, 3 masters, no replicas`.
    pub redis_topology: String,
}

struct Server {
    /// `sluice`, `sluice api`, `sluice worker` or with `--cluster` `sluice api #1`, …:
    /// the name in the CPU table.
    name: String,
    child: Child,
    pid: Option<u32>,
    log: PathBuf,
}

/// A server process to start.
struct Role {
    name: String,
    subcommand: &'static str,
    /// Its log's file name in the temporary directory.
    log: String,
    /// SLUICE_LISTEN: where an API listens; a worker gets its API's address, from
    /// which it makes the public base URL.
    listen: SocketAddr,
    api: bool,
}

impl Stack {
    pub async fn start(
        cli: &Cli,
        sink: SocketAddr,
        config_toml: Option<&str>,
        http: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let sluice_bin = sluice_binary(cli.sluice_bin.as_deref())?;
        let sluice_version = version_of(&sluice_bin).await;
        let dir = tempfile::Builder::new()
            .prefix("sluice-load-")
            .tempdir()
            .context("creating a temporary directory")?;
        let redis = Backend::start(&dir.path().join("redis"), cli.cluster).await?;
        let (masters, redis_version) = redis.masters().await?;

        let admin_token = random_token()?;
        let mut env = vec![
            ("SLUICE_REDIS_URL", redis.url()),
            ("SLUICE_QUEUE_PARTITIONS", cli.partitions().to_string()),
            ("SLUICE_ADMIN_TOKEN", admin_token.clone()),
            ("SLUICE_HOSTNAME", "sluice.localhost".to_owned()),
            // DKIM private keys are stored sealed with this (required by `serve`).
            (
                "SLUICE_DKIM_KEY_ENCRYPTION_KEY",
                sluice_store::KeySealer::generate_base64()
                    .context("making a DKIM key encryption key")?,
            ),
            // The load domain has no DNS to verify.
            ("SLUICE_DOMAINS_REQUIRE_VERIFIED", "false".to_owned()),
        ];
        // The load is the point: quotas far above anything one machine can send.
        for (name, value) in [
            ("SLUICE_QUOTAS_TRANSACTIONAL_PER_SECOND", "1000000"),
            ("SLUICE_QUOTAS_TRANSACTIONAL_BURST", "1000000"),
            ("SLUICE_QUOTAS_TRANSACTIONAL_PER_DAY", "1000000000"),
            ("SLUICE_QUOTAS_BULK_PER_SECOND", "1000000"),
            ("SLUICE_QUOTAS_BULK_BURST", "1000000"),
            ("SLUICE_QUOTAS_BULK_PER_DAY", "1000000000"),
        ] {
            env.push((name, value.to_owned()));
        }
        // With a configuration file (direct MX delivery), no relay: the file says
        // where mail goes.
        let config = match config_toml {
            Some(text) => {
                let path = dir.path().join("sluice.toml");
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                Some(path)
            }
            None => {
                env.push(("SLUICE_RELAY_URL", format!("smtp://{sink}")));
                None
            }
        };
        // Each worker gets the same SLUICE_WORKERS (or the server's default), as it
        // would on a machine of its own.
        if let Some(workers) = cli.workers {
            env.push(("SLUICE_WORKERS", workers.to_string()));
        }
        let roles = roles(cli)?;
        let mut servers = Vec::new();
        for role in &roles {
            let mut env = env.clone();
            env.push(("SLUICE_LISTEN", role.listen.to_string()));
            servers.push(spawn_sluice(
                &sluice_bin,
                dir.path(),
                role,
                &env,
                config.as_deref(),
            )?);
        }
        let base_urls: Vec<String> = roles
            .iter()
            .filter(|role| role.api)
            .map(|role| format!("http://{}", role.listen))
            .collect();
        let mut stack = Self {
            dir,
            keep_dir: cli.keep_dir,
            redis_topology: redis.topology(),
            redis,
            masters,
            servers,
            base_url: base_urls[0].clone(),
            base_urls,
            admin_token,
            sluice_bin,
            sluice_version,
            redis_version,
        };
        for base_url in stack.base_urls.clone() {
            stack.wait_ready(http, &base_url).await?;
        }
        Ok(stack)
    }

    async fn wait_ready(&mut self, http: &reqwest::Client, base_url: &str) -> anyhow::Result<()> {
        let url = format!("{base_url}/readyz");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(problem) = self.exited().into_iter().next() {
                bail!("{problem}");
            }
            match http.get(&url).send().await {
                Ok(r) if r.status() == StatusCode::OK => return Ok(()),
                _ if Instant::now() > deadline => bail!(
                    "sluice did not become ready at {url} within {}s; the end of each log:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.servers
                        .iter()
                        .map(|s| format!("{}:\n{}", s.log.display(), tail(&s.log, 30)))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// A description (with the end of its log) of every server process that exited.
    pub fn exited(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for server in &mut self.servers {
            if let Ok(Some(status)) = server.child.try_wait() {
                problems.push(format!(
                    "{} exited ({status}); the end of its log ({}):\n{}",
                    server.name,
                    server.log.display(),
                    tail(&server.log, 30)
                ));
            }
        }
        problems
    }

    /// The processes to account CPU for: the server(s) and each redis master.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let servers = self
            .servers
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.pid?)));
        let masters = self
            .masters
            .iter()
            .filter_map(|m| Some((m.label.clone(), m.pid?)));
        servers.chain(masters).collect()
    }

    /// `sluice serve`, or `sluice api` and `sluice worker`, or `sluice api #1`, ….
    pub fn roles(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| match s.name.as_str() {
                "sluice" => "sluice serve".to_owned(),
                name => name.to_owned(),
            })
            .collect()
    }

    /// Creates a tenant, an API key with every scope and the domain of `from`; returns
    /// the key.
    pub async fn provision(
        &self,
        http: &reqwest::Client,
        from: &str,
        dkim: DkimKind,
    ) -> anyhow::Result<String> {
        let tenant = post(
            http,
            &format!("{}/v1/admin/tenants", self.base_url),
            &self.admin_token,
            &json!({ "name": "load-test" }),
        )
        .await?;
        let tenant_id = tenant["id"]
            .as_str()
            .context("POST /v1/admin/tenants answered without an id")?;
        let key = post(
            http,
            &format!("{}/v1/admin/tenants/{tenant_id}/api-keys", self.base_url),
            &self.admin_token,
            &json!({ "scopes": ["send", "read", "admin"] }),
        )
        .await?;
        let key = key["key"]
            .as_str()
            .context("POST /v1/admin/tenants/{id}/api-keys answered without a key")?
            .to_owned();
        let domain =
            sender_domain(from).with_context(|| format!("--from `{from}` has no domain"))?;
        post(
            http,
            &format!("{}/v1/domains", self.base_url),
            &key,
            &json!({ "name": domain, "dkim_algorithm": dkim.algorithm() }),
        )
        .await?;
        Ok(key)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server, shuts redis down and removes the temporary directory (unless
    /// `--keep-dir`, then its path is returned).
    pub async fn stop(mut self) -> Option<PathBuf> {
        for server in &mut self.servers {
            let _ = server.child.start_kill();
        }
        for server in &mut self.servers {
            let _ = tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await;
        }
        self.redis.stop().await;
        if self.keep_dir {
            Some(self.dir.keep())
        } else {
            None
        }
    }
}

/// The server processes to start: `sluice serve`; with `--split-roles` `sluice api`
/// and `sluice worker`; with `--cluster` two of each, logging to `api-1.log`, ….
/// With `--queue-only`, the API processes alone.
fn roles(cli: &Cli) -> anyhow::Result<Vec<Role>> {
    let mut roles = all_roles(cli)?;
    if cli.queue_only {
        roles.retain(|r| r.api && r.subcommand != "serve");
    }
    Ok(roles)
}

fn all_roles(cli: &Cli) -> anyhow::Result<Vec<Role>> {
    let role = |name: String, subcommand, log: String, listen, api| Role {
        name,
        subcommand,
        log,
        listen,
        api,
    };
    let listen =
        || -> anyhow::Result<SocketAddr> { Ok(SocketAddr::from(([127, 0, 0, 1], free_port()?))) };
    if cli.cluster {
        let apis: Vec<SocketAddr> = (0..CLUSTER_PROCESSES)
            .map(|_| listen())
            .collect::<anyhow::Result<_>>()?;
        let mut roles = Vec::new();
        for (n, &addr) in (1..).zip(&apis) {
            roles.push(role(
                format!("sluice api #{n}"),
                "api",
                format!("api-{n}.log"),
                addr,
                true,
            ));
        }
        for (n, &addr) in (1..).zip(&apis) {
            let log = format!("worker-{n}.log");
            roles.push(role(
                format!("sluice worker #{n}"),
                "worker",
                log,
                addr,
                false,
            ));
        }
        Ok(roles)
    } else if cli.split_roles || cli.queue_only {
        let addr = listen()?;
        Ok(vec![
            role(
                "sluice api".to_owned(),
                "api",
                "api.log".to_owned(),
                addr,
                true,
            ),
            role(
                "sluice worker".to_owned(),
                "worker",
                "worker.log".to_owned(),
                addr,
                false,
            ),
        ])
    } else {
        let addr = listen()?;
        Ok(vec![role(
            "sluice".to_owned(),
            "serve",
            "serve.log".to_owned(),
            addr,
            true,
        )])
    }
}

/// Starts `sluice <subcommand>` with only our settings: a stray SLUICE_* variable or
/// ./sluice.toml must not change what is measured (its working directory is the
/// empty temporary directory). Output goes to `<dir>/<role's log>`.
fn spawn_sluice(
    bin: &Path,
    dir: &Path,
    role: &Role,
    env: &[(&str, String)],
    config: Option<&Path>,
) -> anyhow::Result<Server> {
    let subcommand = role.subcommand;
    let log = dir.join(&role.log);
    let file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut command = Command::new(bin);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.arg(subcommand).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SLUICE_") {
            command.env_remove(key);
        }
    }
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true);
    let child = command
        .spawn()
        .with_context(|| format!("starting {} {subcommand}", bin.display()))?;
    Ok(Server {
        name: role.name.clone(),
        pid: child.id(),
        child,
        log,
    })
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status != StatusCode::CREATED {
        bail!("POST {url} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("POST {url} answered {text}"))
}

/// The domain of `Name <local@domain>` or `local@domain`.
pub fn sender_domain(from: &str) -> Option<&str> {
    let address = match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from,
    };
    let (_, domain) = address.trim().rsplit_once('@')?;
    (!domain.is_empty()).then_some(domain)
}

/// `--sluice-bin`, else `$CARGO_TARGET_DIR/release/sluice`, else
/// `<workspace>/target/release/sluice`.
fn sluice_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .parent()
                        .unwrap_or(Path::new("."))
                        .join("target")
                });
            target.join("release").join("sluice")
        }
    };
    if !path.is_file() {
        bail!(
            "the sluice binary was not found at {}; build it first with\n\n    cargo build --release -p sluice\n\n(or pass its path with --sluice-bin)",
            path.display()
        );
    }
    // The servers run in the temporary directory: a relative path must not be
    // resolved there.
    path.canonicalize()
        .with_context(|| format!("resolving {}", path.display()))
}

async fn version_of(bin: &Path) -> String {
    match Command::new(bin).arg("--version").output().await {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Err(_) => String::new(),
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// 32 hex characters from the kernel's random source.
fn random_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The last `lines` lines of a file, for error messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    if all.is_empty() {
        format!("({} is empty)", path.display())
    } else {
        all[start..].join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::sender_domain;

    #[test]
    fn sender_domains() {
        assert_eq!(sender_domain("Load <noreply@load.test>"), Some("load.test"));
        assert_eq!(sender_domain("noreply@load.test"), Some("load.test"));
        assert_eq!(sender_domain("nobody"), None);
    }
}
