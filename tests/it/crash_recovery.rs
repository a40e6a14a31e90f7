//! Crash recovery with real processes: `sluice serve` killed with SIGKILL under load,
//! and the `redis-server` under it killed twice (AOF, `appendfsync always`). Every
//! message that got a 202 must reach the sink, within seconds, with no more duplicates
//! than there were deliveries in flight.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestEnv;
use reqwest::StatusCode;
use sluice::run::Roles;
use sluice_smtp_server::AcceptAll;

/// Deliveries in flight at once per process: the bound on duplicates per kill.
const WORKERS: usize = 16;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the load generator saw: every id that got a 202, when, and every other answer.
#[derive(Default)]
struct Sent {
    accepted: Vec<(String, Instant)>,
    refused: HashMap<u16, u64>,
    failed: u64,
}

/// Sends `total` messages from `senders` concurrent clients, each request once (a
/// refused or failed request is counted, never retried: it got no promise).
fn start_load(
    base: Arc<Mutex<String>>,
    key: String,
    total: usize,
    senders: usize,
    sent: Arc<Mutex<Sent>>,
) -> tokio::task::JoinSet<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (base, key, sent, next) = (base.clone(), key.clone(), sent.clone(), next.clone());
        tasks.spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let url = format!("{}/v1/messages", base.lock().unwrap());
                let response = http
                    .post(url)
                    .bearer_auth(&key)
                    .json(&common::simple_message(&format!("user{i}@example.com")))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == StatusCode::ACCEPTED => {
                        let body: serde_json::Value = r.json().await.unwrap();
                        let id = body["id"].as_str().unwrap().to_string();
                        sent.lock().unwrap().accepted.push((id, Instant::now()));
                    }
                    Ok(r) => {
                        let status = r.status().as_u16();
                        assert!(
                            status < 500 || status == 503,
                            "a send answered {status}: {}",
                            r.text().await.unwrap_or_default()
                        );
                        *sent.lock().unwrap().refused.entry(status).or_default() += 1;
                    }
                    Err(_) => {
                        // The server is down (killed, restarting): don't burn the run.
                        sent.lock().unwrap().failed += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    tasks
}

fn serve_process(env: &TestEnv, listen: &str, log: &Path) -> tokio::process::Child {
    let log = std::fs::File::create(log).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("serve")
        .env("SLUICE_REDIS_URL", env.redis.url())
        .env("SLUICE_LISTEN", listen)
        .env("SLUICE_RELAY_URL", env.config.relay_url.clone().unwrap())
        .env("SLUICE_WORKERS", WORKERS.to_string())
        .env("SLUICE_HOSTNAME", "mta.sluice.test")
        .env("SLUICE_INBOUND_LISTEN", "")
        .env("SLUICE_DOMAINS_REQUIRE_VERIFIED", "false")
        .env("SLUICE_DKIM_KEY_ENCRYPTION_KEY", common::TEST_DKIM_KEK)
        .env("SLUICE_QUOTAS_TRANSACTIONAL_PER_SECOND", "1000000")
        .env("SLUICE_QUOTAS_TRANSACTIONAL_BURST", "1000000")
        .env("SLUICE_LOG_FORMAT", "text")
        .env("RUST_LOG", "warn,sluice=info,sluice_delivery=info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_ready(base: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigkill(child: &tokio::process::Child) {
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_killed_under_load_delivers_every_accepted_message_within_seconds() {
    // This process provides the tenant (its own API); `sluice serve` runs as a real
    // child process, sends go to it, and it is the one killed.
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::API, |_| {}).await;
    let key = env.ready_tenant().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut serve = serve_process(&env, &listen, &env.dir.path().join("serve-1.log"));
    wait_ready(&base).await;

    let sent = Arc::new(Mutex::new(Sent::default()));
    let total = 2_000;
    let mut load = start_load(
        Arc::new(Mutex::new(base.clone())),
        key.clone(),
        total,
        8,
        sent.clone(),
    );
    while sent.lock().unwrap().accepted.len() < 700 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sigkill(&serve);
    let killed_at = Instant::now();
    let _ = serve.wait().await;
    let before_kill: Vec<String> = sent
        .lock()
        .unwrap()
        .accepted
        .iter()
        .filter(|(_, at)| *at <= killed_at)
        .map(|(id, _)| id.clone())
        .collect();
    let at_sink_when_killed = common::delivered_counts(&env.sink);
    let stranded = before_kill
        .iter()
        .filter(|id| !at_sink_when_killed.contains_key(id.as_str()))
        .count();

    let mut serve = serve_process(&env, &listen, &env.dir.path().join("serve-2.log"));
    let restarted_at = Instant::now();
    wait_ready(&base).await;

    // Everything the killed process had promised arrives within 15 s of the restart.
    let missing = common::wait_delivered(
        &env.sink,
        &before_kill,
        restarted_at + Duration::from_secs(15),
    )
    .await;
    let recovered_in = restarted_at.elapsed();
    assert!(
        missing.is_empty(),
        "{} of {} messages accepted before the kill not delivered 15 s after the restart (e.g. {:?})",
        missing.len(),
        before_kill.len(),
        &missing[..missing.len().min(3)]
    );
    while load.join_next().await.is_some() {}
    let accepted: Vec<String> = sent
        .lock()
        .unwrap()
        .accepted
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let missing = common::wait_delivered(
        &env.sink,
        &accepted,
        Instant::now() + Duration::from_secs(30),
    )
    .await;
    assert!(
        missing.is_empty(),
        "{} accepted messages never delivered",
        missing.len()
    );
    let counts = common::delivered_counts(&env.sink);
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    let unique: HashSet<&String> = accepted.iter().collect();
    {
        let sent = sent.lock().unwrap();
        println!(
            "accepted {} of {total} (refused {:?}, failed {}); {} accepted before the kill, {stranded} of them not yet delivered then; all delivered {:.1} s after the restart; {duplicates} duplicates",
            unique.len(),
            sent.refused,
            sent.failed,
            before_kill.len(),
            recovered_in.as_secs_f64()
        );
    }
    assert!(
        duplicates <= WORKERS,
        "{duplicates} duplicates, more than the {WORKERS} deliveries that can be in flight"
    );
    // A message can be delivered without its 202 (the process died before answering),
    // but only from a request that failed.
    let unpromised = counts.keys().filter(|id| !unique.contains(id)).count() as u64;
    assert!(
        unpromised <= sent.lock().unwrap().failed,
        "{unpromised} delivered that no request sent"
    );
    sigkill(&serve);
    let _ = serve.wait().await;
    env.stop().await;
}

/// A redis-server this test can kill and restart on the same port and files.
struct KillableRedis {
    dir: PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl KillableRedis {
    fn start(dir: &Path) -> Self {
        let mut redis = Self {
            dir: dir.to_path_buf(),
            port: free_port(),
            child: None,
        };
        redis.spawn();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--maxmemory-policy", "noeviction"])
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ready.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for KillableRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_twice_under_load_loses_no_accepted_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = KillableRedis::start(&dir.path().join("redis"));
    let sink = sluice_smtp_server::SmtpSink::start(sluice_smtp_server::SinkConfig::default())
        .await
        .unwrap();
    let mut config = common::test_config(&redis.url(), sink.local_addr());
    config.workers = WORKERS;
    let running = sluice::run::start(&config, Roles::ALL).await.unwrap();
    let base = format!("http://{}", running.api_addr.unwrap());
    let key = common::provision(&base).await;

    let sent = Arc::new(Mutex::new(Sent::default()));
    let mut load = start_load(
        Arc::new(Mutex::new(base.clone())),
        key.clone(),
        1_500,
        8,
        sent.clone(),
    );
    let mut restarted_at = Instant::now();
    for round in 0..2 {
        let target = 400 * (round + 1);
        while sent.lock().unwrap().accepted.len() < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        redis.kill();
        // Sends during the outage are refused with 503 (asserted by the load).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        redis.spawn();
        restarted_at = Instant::now();
    }
    while load.join_next().await.is_some() {}
    let accepted: Vec<String> = sent
        .lock()
        .unwrap()
        .accepted
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let missing =
        common::wait_delivered(&sink, &accepted, restarted_at + Duration::from_secs(30)).await;
    let counts = common::delivered_counts(&sink);
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    {
        let sent = sent.lock().unwrap();
        println!(
            "accepted {}, refused {:?}, failed {}; delivered all but {} within {:.1} s of the last restart; {duplicates} duplicates",
            accepted.len(),
            sent.refused,
            sent.failed,
            missing.len(),
            restarted_at.elapsed().as_secs_f64()
        );
        assert!(
            sent.refused.get(&503).copied().unwrap_or(0) + sent.failed > 0,
            "no send met the outage: the test did not test it"
        );
    }
    assert!(
        missing.is_empty(),
        "{} accepted messages not delivered 30 s after Redis came back (e.g. {:?})",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    assert!(
        duplicates <= 2 * WORKERS,
        "{duplicates} duplicates, more than the deliveries in flight at the two kills"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_then_hands_unfinished_deliveries_back_at_once() {
    let env = TestEnv::start_with(
        Arc::new(common::HangFirstTime::default()),
        Roles::API,
        |_| {},
    )
    .await;
    let key = env.ready_tenant().await;
    let hanging = common::send_numbered(&env, &key, "hang", 3).await;
    common::send_numbered(&env, &key, "user", 10).await;
    let mut worker = common::worker_process(
        &env,
        &[
            ("SLUICE_DELIVERY_DRAIN_TIMEOUT", "5s"),
            ("SLUICE_DELIVERY_LIVENESS_TTL", "1s"),
        ],
    );
    assert!(
        env.sink.wait_for_count(10, Duration::from_secs(30)).await,
        "the worker delivered {}",
        env.sink.count()
    );
    // Another worker is running, looking for stopped processes every second or two.
    let survivor = env
        .start_roles(Roles::WORKER, |c| {
            c.delivery.liveness_ttl = Duration::from_secs(1)
        })
        .await;
    // Three deliveries hang in DATA (a 10-minute timeout) when SIGTERM arrives.
    let pid = worker.id().unwrap().to_string();
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    // While it drains (5 s, five liveness periods) nobody takes its deliveries.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        env.sink.count(),
        10,
        "a draining worker's deliveries were taken over"
    );
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("the worker stops after its drain timeout")
        .unwrap();
    let stopped_in = signalled.elapsed();
    let stopped_at = Instant::now();
    assert!(status.success(), "{status:?}");
    assert!(
        stopped_in < Duration::from_secs(12),
        "stopping took {stopped_in:?} with a 5 s drain timeout"
    );
    // Handed back: the other worker delivers them at once.
    for id in &hanging {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(5))
            .await;
    }
    println!(
        "SIGTERM to exit: {:.1} s; the 3 handed-back deliveries done {:.1} s after the exit",
        stopped_in.as_secs_f64(),
        stopped_at.elapsed().as_secs_f64()
    );
    assert_eq!(env.sink.count(), 13, "each message delivered exactly once");
    survivor.stop().await.unwrap();
    env.stop().await;
}
