//! `sluice dev`: the whole system on one machine with nothing installed but
//! `redis-server` — a private Redis (data under `./data`), a capture SMTP sink that
//! writes every delivered message to `./data/outbox/*.eml`, a tenant, the domain
//! `example.test` and a fresh API key, all printed with a ready-to-run curl command.
//! DKIM keys are sealed with a key kept in `./data/dkim-key-encryption.key`, and
//! sends do not need a verified domain (`example.test` has no real DNS). SMTP
//! submission listens too (STARTTLS on 127.0.0.1:2587, implicit TLS on 2465, or
//! free ports when those are taken) with a self-signed certificate made once in
//! `./data/submission-cert.pem`.
//!
//! Redis outlives nothing: every way out of [`run`] stops it cleanly, a `sluice dev`
//! killed outright takes it down too (where `setpriv` is installed), and a server left
//! on `./data/redis` anyway is stopped before a new one starts there (see
//! [`EmbeddedRedis::start_detached`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use sluice_model::{DkimAlgorithm, DomainName, Scope};
use sluice_smtp_server::{SinkConfig, SmtpSink};
use sluice_store::Store;
use sluice_store::embedded::EmbeddedRedis;

use crate::config::Config;
use crate::run::{self, Roles};

pub const DEV_DOMAIN: &str = "example.test";

pub async fn run(config: Config, data_dir: PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize()?;
    let redis = EmbeddedRedis::start_detached(&data_dir.join("redis"), true).await?;
    // An error below must not leave Redis to be killed mid-write on drop.
    let result = run_on(config, &data_dir, &redis).await;
    redis.stop().await;
    result
}

async fn run_on(
    mut config: Config,
    data_dir: &std::path::Path,
    redis: &EmbeddedRedis,
) -> anyhow::Result<()> {
    let outbox = data_dir.join("outbox");
    let sink = SmtpSink::start(SinkConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        outbox: Some(outbox.clone()),
        keep_in_memory: false,
        ..SinkConfig::default()
    })
    .await
    .context("starting the capture SMTP sink")?;

    config.redis_url = redis.url();
    config.relay_url = Some(format!("smtp://{}", sink.local_addr()));
    // A development machine's MTAs (and any local DNS it is pointed at) are private.
    config.delivery.allow_private_mx = true;
    let admin_token = config
        .admin_token
        .get_or_insert_with(|| sluice_store::random_token(32))
        .clone();

    // The dev domain has no real DNS, so it can never verify: send from it anyway.
    config.domains.require_verified.get_or_insert(false);
    if config.dkim_key_encryption_key.is_none() {
        config.dkim_key_encryption_key = Some(dev_encryption_key(data_dir)?);
    }
    if config.submission.listen.is_empty() && config.submission.tls_listen.is_empty() {
        config.submission.listen = free_or_any(2587);
        config.submission.tls_listen = free_or_any(2465);
    }
    if config.submission.tls_cert.is_none() && config.submission.tls_key.is_none() {
        let (cert, key) = dev_certificate(data_dir)?;
        config.submission.tls_cert = Some(cert);
        config.submission.tls_key = Some(key);
    }

    let store = Store::connect_with(&config.redis_url, config.store_options()?)
        .await?
        .with_key_sealer(config.key_sealer()?);
    let tenant = store.ensure_labeled_tenant("dev", "dev").await?;
    if !store.has_domain(&tenant.id, DEV_DOMAIN).await? {
        let domain = DomainName::parse(DEV_DOMAIN)?;
        let first_check = time::OffsetDateTime::now_utc() + config.domains.reverify_interval;
        sluice_domains::provision_domain(
            &store,
            &tenant.id,
            domain,
            &[DkimAlgorithm::RsaSha256],
            first_check,
        )
        .await
        .with_context(|| format!("creating {DEV_DOMAIN}"))?;
    }
    let key = store
        .create_api_key(&tenant.id, &[Scope::Send, Scope::Read, Scope::Admin])
        .await?;

    let running = run::start(&config, Roles::ALL).await?;
    let api = running.api_addr.context("the API did not start")?;
    let submission = match (running.submission_addr, running.submission_tls_addr) {
        (Some(plain), tls) => format!(
            r#"
Or over SMTP (STARTTLS on {plain}{implicit}; user name anything, password the API key):

  swaks --server {ip} --port {port} --tls --auth PLAIN --auth-user apikey --auth-password '{key}' \
    --from hello@{DEV_DOMAIN} --to you@example.com --header 'Subject: Hello over SMTP' --body 'It works.'
"#,
            implicit = tls
                .map(|a| format!(", implicit TLS on {a}"))
                .unwrap_or_default(),
            ip = plain.ip(),
            port = plain.port(),
            key = key.key,
        ),
        _ => String::new(),
    };
    println!(
        r#"
Sluice is running (Ctrl-C stops everything it started).

  API            http://{api}   (spec: http://{api}/openapi.json)
  Redis          {redis_url}   (data in {redis_dir})
  Capture sink   smtp://{sink_addr} → every delivered message lands in {outbox}
  Tenant         {tenant_id}   with domain {DEV_DOMAIN}
  API key        {key}
  Admin token    {admin_token}

Send a message:

  curl -sS http://{api}/v1/messages \
    -H 'Authorization: Bearer {key}' \
    -H 'Content-Type: application/json' \
    -d '{{"from": "Sluice Dev <hello@{DEV_DOMAIN}>", "to": ["you@example.com"], "subject": "Hello from Sluice", "text": "It works."}}'

Then follow it with GET http://{api}/v1/messages/<id> and look in {outbox}.
{submission}"#,
        redis_url = redis.url(),
        redis_dir = redis.dir().display(),
        sink_addr = sink.local_addr(),
        outbox = outbox.display(),
        tenant_id = tenant.id,
        key = key.key,
    );

    let result = running.wait(run::cancel_on_signal()).await;
    sink.shutdown().await;
    result
}

/// The DKIM key encryption key of this data directory: made on the first run and
/// kept (readable by the owner only), so the keys stored in the dev Redis stay usable
/// across restarts.
fn dev_encryption_key(data_dir: &std::path::Path) -> anyhow::Result<crate::config::Secret> {
    let path = data_dir.join("dkim-key-encryption.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(crate::config::Secret::new(existing.trim()));
    }
    let key = sluice_store::KeySealer::generate_base64()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{key}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(crate::config::Secret::new(key))
}

/// `127.0.0.1:<port>` when that port is free now, else a free port of the system's
/// choosing (a second `sluice dev`, or a local MTA on the port).
fn free_or_any(port: u16) -> String {
    let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    format!("127.0.0.1:{}", if free { port } else { 0 })
}

/// The submission listener's self-signed certificate for `localhost` and
/// `127.0.0.1`: made on the first run and kept (the key readable by the owner
/// only), so a client told to trust it once keeps trusting it.
fn dev_certificate(data_dir: &std::path::Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert = data_dir.join("submission-cert.pem");
    let key = data_dir.join("submission-key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .context("generating the submission listener's certificate")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&key)
        .with_context(|| format!("creating {}", key.display()))?;
    std::io::Write::write_all(&mut file, generated.key_pair.serialize_pem().as_bytes())
        .with_context(|| format!("writing {}", key.display()))?;
    std::fs::write(&cert, generated.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    Ok((cert, key))
}
