//! Where policies come from: the `_mta-sts` and `_smtp._tls` TXT records through the
//! delivery resolver (`delivery.dns_servers`), and the policy file over HTTPS
//! (RFC 8461 §3.3): certificate verified (Mozilla roots plus
//! `delivery.tls_extra_roots`), no redirects, no proxy, a size and a time limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::mta_sts::{MtaSts, ReportUri, TlsRpt};
use reqwest::dns::{Addrs, Resolve, Resolving};
use sluice_model::net::is_public;

/// The largest policy body read (RFC 8461 §3.3 suggests senders limit it; 64 KiB
/// is far above any real policy).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// The TXT record of a name, as far as one lookup tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txt<T> {
    Found(T),
    /// No record (NXDOMAIN, NODATA, or none that parses).
    Absent,
    /// The lookup failed (SERVFAIL, timeout): nothing is known.
    Failed(String),
}

/// Why a policy could not be fetched, with its TLS-RPT result type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The HTTPS certificate did not verify (`sts-webpki-invalid`).
    #[error("the policy host's certificate did not verify: {0}")]
    Webpki(String),
    /// Connection, status, size, content type, time (`sts-policy-fetch-error`).
    #[error("fetching the policy failed: {0}")]
    Fetch(String),
    /// The body is not a valid policy (`sts-policy-invalid`).
    #[error("{0}")]
    Invalid(String),
}

impl FetchError {
    /// The RFC 8460 §4.3.2 result type.
    pub fn result_type(&self) -> &'static str {
        match self {
            Self::Webpki(_) => "sts-webpki-invalid",
            Self::Fetch(_) => "sts-policy-fetch-error",
            Self::Invalid(_) => "sts-policy-invalid",
        }
    }
}

/// DNS and HTTPS for MTA-STS and TLS-RPT. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    resolver: TokioResolver,
    client: reqwest::Client,
    /// 443, except in tests (`delivery.mta_sts_port`).
    port: u16,
}

impl Fetcher {
    pub fn new(resolver: TokioResolver, client: reqwest::Client, port: u16) -> Self {
        Self {
            resolver,
            client,
            port,
        }
    }

    /// The client (policy fetches and TLS-RPT POSTs share it).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The `id` of `_mta-sts.<domain>` (RFC 8461 §3.1). Several valid records are
    /// as good as none (§3.1: "senders ... MUST assume no policy").
    pub async fn mta_sts_id(&self, domain: &str) -> Txt<String> {
        match self.txt(&format!("_mta-sts.{domain}")).await {
            Txt::Found(records) => {
                let ids: Vec<String> = records
                    .iter()
                    .filter(|r| r.starts_with("v=STSv1"))
                    .filter_map(|r| MtaSts::parse(r.as_bytes()).ok())
                    .map(|r| r.id)
                    .collect();
                match ids.as_slice() {
                    [id] => Txt::Found(id.clone()),
                    _ => Txt::Absent,
                }
            }
            Txt::Absent => Txt::Absent,
            Txt::Failed(reason) => Txt::Failed(reason),
        }
    }

    /// The report addresses of `_smtp._tls.<domain>` (RFC 8460 §3).
    pub async fn tls_rpt(&self, domain: &str) -> Txt<Vec<ReportUri>> {
        match self.txt(&format!("_smtp._tls.{domain}")).await {
            Txt::Found(records) => {
                let parsed: Vec<TlsRpt> = records
                    .iter()
                    .filter(|r| r.starts_with("v=TLSRPTv1"))
                    .filter_map(|r| TlsRpt::parse(r.as_bytes()).ok())
                    .collect();
                match parsed.as_slice() {
                    [record] if !record.rua.is_empty() => Txt::Found(record.rua.clone()),
                    _ => Txt::Absent,
                }
            }
            Txt::Absent => Txt::Absent,
            Txt::Failed(reason) => Txt::Failed(reason),
        }
    }

    /// `https://mta-sts.<domain>/.well-known/mta-sts.txt` (on `port`), as text.
    pub async fn policy_text(&self, domain: &str) -> Result<String, FetchError> {
        let port = match self.port {
            443 => String::new(),
            port => format!(":{port}"),
        };
        let url = format!("https://mta-sts.{domain}{port}/.well-known/mta-sts.txt");
        let fetch = |e: String| FetchError::Fetch(e);
        let mut response = self.client.get(&url).send().await.map_err(|e| {
            let text = error_chain(&e);
            let lower = text.to_ascii_lowercase();
            if lower.contains("certificate") || lower.contains("unknownissuer") {
                FetchError::Webpki(text)
            } else {
                fetch(text)
            }
        })?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(fetch(format!("{url} answered {}", response.status())));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !content_type.starts_with("text/plain") {
            return Err(fetch(format!(
                "{url} is `{content_type}`, not text/plain (RFC 8461 §3.3)"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fetch(error_chain(&e)))? {
            if body.len() + chunk.len() > MAX_POLICY_BYTES {
                return Err(fetch(format!("{url} is over {MAX_POLICY_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| FetchError::Invalid("the policy is not UTF-8".into()))
    }

    /// Every TXT record at `name`, each record's strings joined.
    async fn txt(&self, name: &str) -> Txt<Vec<String>> {
        match sluice_domains::lookup::txt_records(&self.resolver, name).await {
            Ok(records) if records.is_empty() => Txt::Absent,
            Ok(records) => Txt::Found(records),
            Err(reason) => Txt::Failed(reason),
        }
    }
}

/// An error with its causes (reqwest hides the TLS reason in its sources).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The HTTP client: no redirects (RFC 8461 §3.3), no proxy, the delivery resolver
/// (so a policy host resolves as MX hosts do, and non-public addresses are refused
/// unless `delivery.allow_private_mx`), the Mozilla/system roots plus `extra_roots`.
pub fn http_client(
    resolver: TokioResolver,
    allow_private: bool,
    extra_roots: &[u8],
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let roots = if extra_roots.is_empty() {
        Vec::new()
    } else {
        reqwest::Certificate::from_pem_bundle(extra_roots)?
    };
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(DeliveryResolver {
            resolver,
            allow_private,
        }))
        .tls_certs_merge(roots)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("Sluice-MTA-STS/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Host names through the delivery resolver, non-public addresses dropped unless
/// allowed.
struct DeliveryResolver {
    resolver: TokioResolver,
    allow_private: bool,
}

impl Resolve for DeliveryResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> Resolving {
        let (resolver, allow_private) = (self.resolver.clone(), self.allow_private);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let lookup = resolver.lookup_ip(format!("{host}.")).await?;
            let found: Vec<SocketAddr> = lookup
                .iter()
                .filter(|ip| allow_private || is_public(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no usable public address").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}
