//! `sluice`: the transactional email gateway. See `sluice --help`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sluice::config::{Config, LogFormat};
use sluice::run::{self, Roles};

#[derive(Parser)]
#[command(name = "sluice", version, about = "Transactional email API gateway")]
struct Cli {
    /// TOML configuration file (default: $SLUICE_CONFIG, else ./sluice.toml if present).
    /// Every key can be overridden by a SLUICE_* environment variable.
    #[arg(long, global = true, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The API and the delivery workers in one process.
    Serve,
    /// The HTTP API only.
    Api,
    /// The delivery workers only (with the event fan-out and webhook delivery).
    Worker,
    /// The inbound SMTP listener for bounces and complaints only (SLUICE_INBOUND_LISTEN).
    Inbound,
    /// The SMTP submission listeners only (SLUICE_SUBMISSION_LISTEN,
    /// SLUICE_SUBMISSION_TLS_LISTEN).
    Submission,
    /// Everything on this machine: a private redis-server, a capture SMTP sink, a tenant,
    /// a domain and an API key.
    Dev {
        /// Where Redis data and captured messages (outbox/*.eml) are kept.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Renders templates for the API process that started it: one JSON request per
    /// line on stdin, one reply per line on stdout, memory and time capped per render.
    #[command(name = sluice_template_sandbox::SUBCOMMAND, hide = true)]
    RenderSandbox {
        /// Bytes one render may allocate.
        #[arg(long)]
        max_memory: u64,
        /// Milliseconds one render may take.
        #[arg(long)]
        timeout_ms: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        println!("{}", serde_json::to_string_pretty(&sluice_api::openapi())?);
        return Ok(());
    }
    if let Command::RenderSandbox {
        max_memory,
        timeout_ms,
    } = cli.command
    {
        // No configuration, logging or runtime: stdout carries only replies.
        return sluice_template_sandbox::serve_child(sluice_template_sandbox::ChildLimits {
            max_memory,
            timeout: std::time::Duration::from_millis(timeout_ms),
        })
        .context("template sandbox");
    }
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(&config, Roles::ALL).await,
            Command::Api => serve(&config, Roles::API).await,
            Command::Worker => serve(&config, Roles::WORKER).await,
            Command::Inbound => {
                serve(
                    &config,
                    Roles {
                        api: false,
                        worker: false,
                        inbound: true,
                        submission: false,
                    },
                )
                .await
            }
            Command::Submission => {
                anyhow::ensure!(
                    config.submission_listeners()?.is_some(),
                    "`sluice submission` needs `submission.listen` (SLUICE_SUBMISSION_LISTEN) or `submission.tls_listen` (SLUICE_SUBMISSION_TLS_LISTEN)"
                );
                serve(
                    &config,
                    Roles {
                        api: false,
                        worker: false,
                        inbound: false,
                        submission: true,
                    },
                )
                .await
            }
            Command::Dev { data_dir } => sluice::dev::run(config, data_dir).await,
            Command::Openapi | Command::RenderSandbox { .. } => Ok(()),
        }
    })
}

async fn serve(config: &Config, roles: Roles) -> anyhow::Result<()> {
    let running = run::start(config, roles).await?;
    running.wait(run::cancel_on_signal()).await
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
