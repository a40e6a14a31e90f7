//! Test harness: every test gets its own redis-server (on a free port, in a temp
//! dir), its own SMTP sink on loopback, and Sluice's real roles started in-process
//! against them. Nothing here talks to anything but 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sluice::config::Config;
use sluice::run::{self, Roles, Running};
use sluice_smtp_server::{
    AcceptAll, Peer, ReceivedMessage, Reply, SinkBehavior, SinkConfig, SinkHandle, SmtpSink,
};
use sluice_store::embedded::{EmbeddedCluster, EmbeddedRedis};
use std::collections::HashSet;
use std::sync::Mutex;

mod hooks;
mod mail;
pub use hooks::webhook_receiver;
pub use mail::{
    bulk, delivered_counts, delivered_until, queue_bulk, send_numbered, wait_delivered,
};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The DKIM key encryption key of every test (32 bytes, base64).
pub const TEST_DKIM_KEK: &str = "c2x1aWNlLXRlc3QtZGtpbS1rZXktZW5jcnlwdGlvbiE=";

/// The test's own Redis: one server, or a cluster of them.
pub enum TestRedis {
    Single(EmbeddedRedis),
    Cluster(EmbeddedCluster),
}

impl TestRedis {
    /// What `redis_url` says: `redis://…`, or `redis+cluster://…` listing every node.
    pub fn url(&self) -> String {
        match self {
            TestRedis::Single(redis) => redis.url(),
            TestRedis::Cluster(cluster) => cluster.url(),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            TestRedis::Single(redis) => redis.port(),
            TestRedis::Cluster(_) => panic!("a cluster has no one port"),
        }
    }

    pub fn cluster(&mut self) -> &mut EmbeddedCluster {
        match self {
            TestRedis::Cluster(cluster) => cluster,
            TestRedis::Single(_) => panic!("not a cluster"),
        }
    }
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub redis: TestRedis,
    pub sink: SinkHandle,
    pub config: Config,
    pub running: Option<Running>,
    pub base: String,
    pub http: Client,
}

/// A configuration pointing at this test's Redis and sink, with fast retries.
pub fn test_config(redis_url: &str, sink: SocketAddr) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        redis_url: redis_url.to_string(),
        relay_url: Some(format!("smtp://{sink}")),
        admin_token: Some(ADMIN_TOKEN.into()),
        hostname: "mta.sluice.test".into(),
        workers: 8,
        bounce_domain: Some("bounces.sluice.test".into()),
        inbound_listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    // Quotas far above what any test sends; the quota tests set their own per tenant.
    let roomy = sluice_model::StreamQuota {
        per_second: 1_000_000,
        burst: 1_000_000,
        per_day: 1_000_000_000,
    };
    config.quotas = sluice_model::TenantQuotas {
        transactional: roomy,
        bulk: roomy,
    };
    // A fixed key: tests may read sealed DKIM keys back with it.
    config.dkim_key_encryption_key = Some(sluice::config::Secret::new(TEST_DKIM_KEK));
    // Tests send from domains without real DNS; tests/it/domains.rs turns this on.
    config.domains.require_verified = Some(false);
    config.delivery.retry_schedule = vec![Duration::from_secs(1)];
    config.delivery.reclaim_idle = Duration::from_secs(2);
    config.delivery.drain_timeout = Duration::from_secs(5);
    config.delivery.connect_timeout = Duration::from_secs(2);
    config.delivery.greeting_timeout = Duration::from_secs(2);
    // Templates render in `sluice render-sandbox` processes; this test binary is not one.
    config.templates.sandbox_command = Some(env!("CARGO_BIN_EXE_sluice").into());
    // The loopback DNS fixture points MX records at 127.0.0.1.
    config.delivery.allow_private_mx = true;
    config
}

impl TestEnv {
    pub async fn start() -> Self {
        Self::start_with(Arc::new(AcceptAll), Roles::ALL, |_| {}).await
    }

    pub async fn start_with(
        behavior: Arc<dyn SinkBehavior>,
        roles: Roles,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // With the append-only file (everysec), as `durability.mode = "local"`, the
        // default, requires.
        let redis = EmbeddedRedis::start(&dir.path().join("redis"), true)
            .await
            .unwrap();
        Self::start_on(dir, TestRedis::Single(redis), behavior, roles, tweak).await
    }

    /// Like [`start_with`](Self::start_with), on a Redis Cluster of `masters` masters
    /// with `replicas` replicas each (append-only files on), the queue in
    /// `partitions` partitions.
    pub async fn start_on_cluster(
        shape: (usize, usize, u16),
        behavior: Arc<dyn SinkBehavior>,
        roles: Roles,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_on_any_cluster(shape, false, behavior, roles, tweak).await
    }

    /// [`start_on_cluster`](Self::start_on_cluster), Sluice reaching the nodes over
    /// TLS only (`rediss+cluster://`, the test CA of `tests/fixtures/redis_tls` and its
    /// client certificate, which the nodes require); the nodes' bus and replication
    /// run over TLS too.
    pub async fn start_on_tls_cluster(
        shape: (usize, usize, u16),
        behavior: Arc<dyn SinkBehavior>,
        roles: Roles,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_on_any_cluster(shape, true, behavior, roles, tweak).await
    }

    async fn start_on_any_cluster(
        (masters, replicas, partitions): (usize, usize, u16),
        tls: bool,
        behavior: Arc<dyn SinkBehavior>,
        roles: Roles,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nodes = dir.path().join("cluster");
        let fixture = |name: &str| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/redis_tls")
                .join(name)
        };
        let cluster = if tls {
            let server = sluice_store::embedded::ServerTls {
                cert_file: fixture("server.pem"),
                key_file: fixture("server.key"),
                ca_file: fixture("ca.pem"),
                require_client_certs: true,
            };
            EmbeddedCluster::start_tls(&nodes, masters, replicas, true, &server).await
        } else {
            EmbeddedCluster::start(&nodes, masters, replicas, true).await
        }
        .unwrap();
        let tls_url = tls.then(|| cluster.tls_url());
        Self::start_on(
            dir,
            TestRedis::Cluster(cluster),
            behavior,
            roles,
            |config| {
                config.queue.partitions = partitions;
                if let Some(url) = tls_url {
                    let path = |name: &str| Some(fixture(name).to_string_lossy().into_owned());
                    config.redis_url = url;
                    config.redis_ca_file = path("ca.pem");
                    config.redis_client_cert = path("client.pem");
                    config.redis_client_key = path("client.key");
                }
                tweak(config);
            },
        )
        .await
    }

    async fn start_on(
        dir: tempfile::TempDir,
        redis: TestRedis,
        behavior: Arc<dyn SinkBehavior>,
        roles: Roles,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let sink = SmtpSink::start(SinkConfig {
            behavior,
            ..SinkConfig::default()
        })
        .await
        .unwrap();
        let mut config = test_config(&redis.url(), sink.local_addr());
        tweak(&mut config);
        let running = run::start(&config, roles).await.unwrap();
        let base = running
            .api_addr
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        Self {
            dir,
            redis,
            sink,
            config,
            running: Some(running),
            base,
            http: {
                sluice_events::install_tls_provider();
                Client::new()
            },
        }
    }

    /// Starts another set of roles (e.g. a worker) against the same Redis and sink.
    pub async fn start_roles(&self, roles: Roles, tweak: impl FnOnce(&mut Config)) -> Running {
        let mut config = self.config.clone();
        tweak(&mut config);
        run::start(&config, roles).await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A new tenant and an API key with `scopes`.
    pub async fn tenant_with_key(&self, scopes: &[&str]) -> (String, String) {
        let tenant = self
            .admin_post("/v1/admin/tenants", json!({"name": "acme"}))
            .await;
        assert_eq!(tenant.status(), StatusCode::CREATED);
        let tenant: Value = tenant.json().await.unwrap();
        let id = tenant["id"].as_str().unwrap().to_string();
        let key = self
            .admin_post(
                &format!("/v1/admin/tenants/{id}/api-keys"),
                json!({"scopes": scopes}),
            )
            .await;
        assert_eq!(key.status(), StatusCode::CREATED);
        let key: Value = key.json().await.unwrap();
        (id, key["key"].as_str().unwrap().to_string())
    }

    /// A tenant with a full-scope key and the domain `acme.test`; returns the key.
    pub async fn ready_tenant(&self) -> String {
        let (_, key) = self.tenant_with_key(&["send", "read", "admin"]).await;
        let domain = self
            .post(&key, "/v1/domains", json!({"name": "acme.test"}))
            .await;
        assert_eq!(domain.status(), StatusCode::CREATED);
        key
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, key: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// Sends a message and returns its id, asserting the 202.
    pub async fn send(&self, key: &str, body: Value) -> String {
        let response = self.post(key, "/v1/messages", body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn message(&self, key: &str, id: &str) -> Value {
        let response = self.get(key, &format!("/v1/messages/{id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Polls the message until `done` holds, failing with the last view after `timeout`.
    pub async fn wait_for(
        &self,
        key: &str,
        id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let view = self.message(key, id).await;
            if done(&view) {
                return view;
            }
            assert!(Instant::now() < deadline, "timed out; last view: {view:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_for_status(
        &self,
        key: &str,
        id: &str,
        status: &str,
        timeout: Duration,
    ) -> Value {
        self.wait_for(key, id, timeout, |v| v["status"] == status)
            .await
    }
}

/// Direct delivery for tests: no default relay, MX hosts contacted on the sink's port,
/// and `dns` (a loopback fixture) as the only name server.
pub fn direct(config: &mut Config, dns: &sluice_test_dns::DnsFixture) {
    let relay = config.relay_url.take().unwrap();
    config.delivery.mx_port = relay.rsplit(':').next().unwrap().parse().unwrap();
    config.delivery.dns_servers = vec![dns.addr().to_string()];
}

pub fn simple_message(to: &str) -> Value {
    json!({
        "from": "Acme <noreply@acme.test>",
        "to": [to],
        "subject": "Hello",
        "text": "Hi there"
    })
}

/// Runs the independent DKIM verifier (dkimpy) on a message's topmost signature.
pub fn dkim_verify(message: &[u8], dns_txt: &str, dns_name: &str) -> String {
    dkim_verify_nth(message, dns_txt, dns_name, 0)
}

/// Runs dkimpy on the `index`th DKIM-Signature (0 = topmost).
pub fn dkim_verify_nth(message: &[u8], dns_txt: &str, dns_name: &str, index: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("message.eml");
    std::fs::write(&path, message).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/support/dkim_verify.py");
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = std::process::Command::new(&python)
        .arg(script)
        .arg(&path)
        .arg(dns_txt)
        .arg(dns_name)
        .arg(index.to_string())
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        !stdout.starts_with("ERROR"),
        "the DKIM verifier could not run: {stdout} {} (install with `pip install dkimpy pynacl`, or set SLUICE_TEST_PYTHON)",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The header section of a raw message, unfolded, as (name, value) pairs.
pub fn headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.to_string(), value.trim().to_string()));
        }
    }
    out
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The DKIM TXT record of a tenant domain: (value, name).
pub async fn domain_dkim_record(env: &TestEnv, key: &str, domain: &str) -> (String, String) {
    let view: Value = env
        .get(key, &format!("/v1/domains/{domain}"))
        .await
        .json()
        .await
        .unwrap();
    let record = view["dns_records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["purpose"] == "dkim")
        .unwrap()
        .clone();
    (
        record["value"].as_str().unwrap().to_string(),
        record["name"].as_str().unwrap().to_string(),
    )
}

/// Asserts an RFC 9457 problem with `status` and returns its body.
pub async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:sluice:problem:"),
        "{body}"
    );
    assert!(!body["title"].as_str().unwrap().is_empty());
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

/// The field names of a validation problem, in order.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

/// A tenant with an all-scopes key and the domain `acme.test`, made through the admin
/// API of the Sluice at `base` (for tests that run Sluice without a [`TestEnv`]).
pub async fn provision(base: &str) -> String {
    let http = Client::new();
    let tenant: Value = http
        .post(format!("{base}/v1/admin/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = tenant["id"].as_str().unwrap();
    let key: Value = http
        .post(format!("{base}/v1/admin/tenants/{tenant}/api-keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"scopes": ["send", "read", "admin"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let domain = http
        .post(format!("{base}/v1/domains"))
        .bearer_auth(&key)
        .json(&json!({"name": "acme.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(domain.status(), StatusCode::CREATED);
    key
}

/// Never finishes DATA the first time it sees a recipient whose local part starts with
/// "hang", so those deliveries are in flight when the worker is killed.
#[derive(Default)]
pub struct HangFirstTime {
    seen: Mutex<HashSet<String>>,
}

impl SinkBehavior for HangFirstTime {
    fn data_end(&self, _peer: &Peer, message: &ReceivedMessage) -> Reply {
        let hang = message
            .rcpt_to
            .iter()
            .any(|r| r.starts_with("hang") && self.seen.lock().unwrap().insert(r.clone()));
        if hang { Reply::hang() } else { Reply::ok() }
    }
}

/// A real `sluice worker` process against this test's Redis, delivering through its
/// sink (4 deliveries at once, a 10-minute DATA timeout), with `extra` environment;
/// its output goes to `worker.log` in the test's directory.
pub fn worker_process(env: &TestEnv, extra: &[(&str, &str)]) -> tokio::process::Child {
    let log = std::fs::File::create(env.dir.path().join("worker.log")).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("worker")
        .env("SLUICE_REDIS_URL", &env.config.redis_url)
        .env(
            "SLUICE_QUEUE_PARTITIONS",
            env.config.queue.partitions.to_string(),
        )
        .env("SLUICE_RELAY_URL", env.config.relay_url.clone().unwrap())
        .env("SLUICE_WORKERS", "4")
        .env("SLUICE_HOSTNAME", "mta.sluice.test")
        .env("SLUICE_DELIVERY_DATA_TIMEOUT", "10m")
        .env("SLUICE_DKIM_KEY_ENCRYPTION_KEY", TEST_DKIM_KEK)
        .envs(extra.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}
