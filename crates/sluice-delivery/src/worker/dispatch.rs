//! Sending one signed message to its unfinished recipients, grouped by destination:
//! all recipients behind one relay share a transaction, MX-routed recipients share one
//! per domain (RFC 5321 §5.1), and the groups run concurrently so a slow destination
//! delays only its own recipients.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_domains::dkim::DkimError;
use sluice_model::{MessageStream, SmtpReply};
use tokio::task::JoinSet;

use super::outcome::{AttemptResult, RecipientOutcome};
use super::shaping::{Shaper, Slot, Source, SourcePool};
use super::tls::{self, TlsPolicy};
use crate::mime::MimeError;
use crate::routing::{MxResolver, Route, RouteError, Router};
use sluice_smtp_client::{Envelope, RelayTarget, SmtpError, SmtpPool, TransactionOutcome};

/// What a destination group is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Destination {
    Relay(RelayTarget),
    Mx { domain: String, port: u16 },
}

/// Everything needed to reach a destination; cheap to clone into tasks.
#[derive(Clone)]
pub struct Dispatcher {
    pub router: Router,
    pub resolver: MxResolver,
    pub pool: SmtpPool,
    pub helo_name: String,
    /// Source-address pools by name; a message without a pool lets the OS choose.
    pub pools: Arc<HashMap<String, SourcePool>>,
    pub shaper: Arc<Shaper>,
    /// MTA-STS and TLS-RPT for MX delivery.
    pub tls: TlsPolicy,
}

/// The envelope sender and options shared by every group of one message.
pub struct Outgoing {
    /// The message's stream: bulk leaves reserved connections to transactional mail
    /// and yields to it wherever both wait for one.
    pub stream: MessageStream,
    /// The pool to send from: the tenant's choice for this stream, else the stream's
    /// configured default.
    pub pool: Option<String>,
    pub mail_from: Option<String>,
    pub smtputf8: bool,
    pub data: LazyMessage,
}

type BuildFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, BuildError>> + Send>>;

/// Why the signed message could not be made: the same answer for every destination
/// of the attempt, and a failure for its recipients (no retry builds it differently).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("building the message: {0}")]
    Mime(#[source] MimeError),
    #[error("DKIM signing: {0}")]
    Sign(#[source] DkimError),
    #[error("signing task: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error("the message was already being built")]
    AlreadyBuilding,
}

/// The signed message, built on first use. A destination that is throttled,
/// suspended or at its connection cap never pays for MIME building and DKIM signing,
/// so mail parked behind a dead destination costs almost no CPU on each pass.
pub struct LazyMessage {
    built: tokio::sync::OnceCell<Result<Arc<Vec<u8>>, Arc<BuildError>>>,
    build: std::sync::Mutex<Option<BuildFuture>>,
}

impl LazyMessage {
    /// `build` is not polled until a destination asks for the bytes.
    pub fn new(
        build: impl std::future::Future<Output = Result<Vec<u8>, BuildError>> + Send + 'static,
    ) -> Self {
        Self {
            built: tokio::sync::OnceCell::new(),
            build: std::sync::Mutex::new(Some(Box::pin(build))),
        }
    }

    /// The bytes, or why they could not be built (the same answer for every caller).
    pub async fn get(&self) -> Result<Arc<Vec<u8>>, Arc<BuildError>> {
        self.built
            .get_or_init(|| async {
                let build = self
                    .build
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                match build {
                    Some(build) => build.await.map(Arc::new).map_err(Arc::new),
                    None => Err(Arc::new(BuildError::AlreadyBuilding)),
                }
            })
            .await
            .clone()
    }
}

impl Dispatcher {
    pub async fn send(&self, outgoing: Outgoing, recipients: Vec<String>) -> AttemptResult {
        let outgoing = Arc::new(outgoing);
        let mut groups: HashMap<Destination, Vec<String>> = HashMap::new();
        for recipient in recipients {
            let domain = recipient
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default();
            let destination = match self.router.route_for(&domain) {
                Route::Relay(target) => Destination::Relay(target),
                Route::Mx { port } => Destination::Mx { domain, port },
            };
            groups.entry(destination).or_default().push(recipient);
        }
        let mut tasks = JoinSet::new();
        for (destination, recipients) in groups {
            let (dispatcher, outgoing) = (self.clone(), outgoing.clone());
            tasks.spawn(async move {
                dispatcher
                    .send_group(destination, &outgoing, recipients)
                    .await
            });
        }
        let mut result =
            AttemptResult::transient("the delivery task for this recipient did not finish");
        while let Some(part) = tasks.join_next().await {
            match part {
                Ok(part) => result.merge(part),
                Err(e) => tracing::error!(error = %e, "a destination task failed"),
            }
        }
        result
    }

    async fn send_group(
        &self,
        destination: Destination,
        outgoing: &Outgoing,
        recipients: Vec<String>,
    ) -> AttemptResult {
        let mut result = match destination {
            Destination::Relay(mut target) => {
                // A smart host shapes its own traffic: only the source address is ours.
                if let Some(source) = outgoing
                    .pool
                    .as_deref()
                    .and_then(|name| self.pools.get(name))
                    .and_then(|p| p.rotation().next())
                {
                    bind(&mut target, source);
                }
                match outgoing.data.get().await {
                    Ok(data) => self
                        .transaction(
                            outgoing.stream,
                            &target,
                            &envelope(outgoing, &recipients, data.len()),
                            &data,
                        )
                        .await
                        .unwrap_or_else(|(failure, _)| failure),
                    Err(e) => AttemptResult::failed(e.to_string()),
                }
            }
            Destination::Mx { domain, port } => {
                let pool = outgoing
                    .pool
                    .as_deref()
                    .and_then(|name| self.pools.get(name));
                self.via_mx(&domain, port, pool, outgoing, &recipients)
                    .await
            }
        };
        // Recipients the transaction did not answer (none normally) keep the group's fallback.
        result.limit_to(&recipients);
        result
    }

    /// One SMTP transaction; `Err` carries the outcome for every recipient when the
    /// session failed before any of them was answered, with the server's reply if it
    /// gave one (a 421 greeting, …).
    async fn transaction(
        &self,
        stream: MessageStream,
        target: &RelayTarget,
        envelope: &Envelope,
        data: &[u8],
    ) -> Result<AttemptResult, (AttemptResult, Option<SmtpReply>)> {
        into_attempt(self.send_once(stream, target, envelope, data).await)
    }

    async fn send_once(
        &self,
        stream: MessageStream,
        target: &RelayTarget,
        envelope: &Envelope,
        data: &[u8],
    ) -> Result<TransactionOutcome, SmtpError> {
        let started = std::time::Instant::now();
        let sent = self.pool.send_as(stream, target, envelope, data).await;
        metrics::histogram!("sluice_smtp_transaction_seconds")
            .record(started.elapsed().as_secs_f64());
        sent
    }

    /// Tries the domain's MX hosts in preference order, moving to the next address
    /// only when a session could not be had (connection refused, timeout, 4xx
    /// greeting); any transaction that ran is final for this attempt.
    async fn via_mx(
        &self,
        domain: &str,
        port: u16,
        pool: Option<&SourcePool>,
        outgoing: &Outgoing,
        recipients: &[String],
    ) -> AttemptResult {
        let (hosts, applied) = tokio::join!(
            self.resolver.resolve(domain),
            self.tls.sts.policy_for(domain)
        );
        let hosts = match hosts {
            Ok(hosts) => hosts,
            Err(e) => return AttemptResult::everyone(route_failure(&e)),
        };
        let recorder = &self.tls.recorder;
        if let Some(failure) = &applied.failure {
            let negotiation = crate::tls_policy::report::Negotiation::Failure {
                result_type: failure.result_type(),
                mx_host: "",
                ip: None,
            };
            recorder.record(domain, &applied, negotiation).await;
        }
        let hosts = match tls::allowed_hosts(&applied, hosts) {
            Ok(hosts) => hosts,
            Err(why) => {
                tls::record_mismatch(recorder, domain, &applied, "").await;
                tracing::info!(%domain, %why, "MTA-STS: not delivered");
                return AttemptResult::everyone(RecipientOutcome::Reply(tls::refusal(
                    domain, &why,
                )));
            }
        };
        // The best MX host names the provider (gmail, outlook, …) whose limits apply.
        let best = hosts.first().map_or(domain, |h| h.name.as_str());
        let provider = self.shaper.providers.classify(best, domain);
        let (source, throttle_key, _permit) = match self
            .shaper
            .acquire(pool, &provider, outgoing.stream)
            .await
        {
            Slot::Granted {
                source,
                target,
                _permit,
            } => (source, target, _permit),
            Slot::Wait(wait) => return AttemptResult::everyone(RecipientOutcome::Throttled(wait)),
            Slot::Busy { waitlist, fallback } => {
                return AttemptResult::everyone(RecipientOutcome::Waiting { waitlist, fallback });
            }
            Slot::Unavailable(reason) => {
                return AttemptResult::unavailable(format!("throttle state unavailable: {reason}"));
            }
        };
        // Only now, with a sending slot, is the message worth building and signing.
        let data = match outgoing.data.get().await {
            Ok(data) => data,
            Err(e) => return AttemptResult::failed(e.to_string()),
        };
        let envelope = envelope(outgoing, recipients, data.len());
        let (envelope, data) = (&envelope, data.as_slice());
        let mut last_failure =
            AttemptResult::transient(format!("no MX host of {domain} could be reached"));
        let mut tls_refused: Option<String> = None;
        for host in &hosts {
            let verify = tls::verify(&applied, host);
            if applied.policy.is_some()
                && !verify
                && applied.mode() == crate::tls_policy::Mode::Testing
            {
                tls::record_mismatch(recorder, domain, &applied, &host.name).await;
            }
            for address in &host.addresses {
                let mut target =
                    RelayTarget::new(address.to_string(), port, self.helo_name.clone());
                target.max_messages_per_connection = Some(provider.limits.messages_per_connection);
                if let Some(source) = &source {
                    bind(&mut target, source);
                }
                let plain_target = target.clone();
                if verify {
                    target = tls::verified(target, host);
                }
                let mut sent = self
                    .send_once(outgoing.stream, &target, envelope, data)
                    .await;
                tls::record(recorder, domain, &applied, host, &target, &sent).await;
                if let Err(e) = &sent
                    && e.tls_failure().is_some()
                {
                    if applied.mode() == crate::tls_policy::Mode::Testing {
                        // Testing mode reports and delivers as usual.
                        sent = self
                            .send_once(outgoing.stream, &plain_target, envelope, data)
                            .await;
                    } else if verify {
                        tls_refused = Some(format!("{}: {e}", host.name));
                    }
                }
                match into_attempt(sent) {
                    Ok(result) => {
                        let replies = result.smtp_replies();
                        self.shaper
                            .learn(&throttle_key, source.as_ref(), &provider, &replies)
                            .await;
                        return result;
                    }
                    Err((failure, reply)) => {
                        // A refused session (421 at greeting, …) is feedback too.
                        if let Some(reply) = &reply {
                            self.shaper
                                .learn(&throttle_key, source.as_ref(), &provider, &[reply])
                                .await;
                        }
                        if !failure.is_transient_for_all() {
                            return failure;
                        }
                        tracing::debug!(%domain, mx = %host.name, %address, "MX host unavailable; trying the next");
                        last_failure = failure;
                    }
                }
            }
        }
        if let Some(why) = tls_refused {
            let why = format!("no verified TLS session with an allowed MX host (last: {why})");
            return AttemptResult::everyone(RecipientOutcome::Reply(tls::refusal(domain, &why)));
        }
        last_failure
    }
}

/// A transaction's result as recipient outcomes (see [`Dispatcher::transaction`]).
/// The same shape as `transaction`'s; it lives on the stack for one call.
#[allow(clippy::result_large_err)]
fn into_attempt(
    sent: Result<TransactionOutcome, SmtpError>,
) -> Result<AttemptResult, (AttemptResult, Option<SmtpReply>)> {
    match sent {
        Ok(outcome) => Ok(AttemptResult::replies(outcome.recipients)),
        Err(e) => Err((
            AttemptResult::everyone(RecipientOutcome::from(&e)),
            e.reply().cloned(),
        )),
    }
}

fn envelope(outgoing: &Outgoing, recipients: &[String], size: usize) -> Envelope {
    Envelope {
        mail_from: outgoing.mail_from.clone(),
        recipients: recipients.to_vec(),
        smtputf8: outgoing.smtputf8,
        size_hint: size,
    }
}

fn bind(target: &mut RelayTarget, source: &Source) {
    target.source_ip = Some(source.ip);
    target.helo_name = source.helo_name.clone();
}

/// A DNS verdict as a recipient outcome: null MX and NXDOMAIN bounce with the codes
/// RFC 7505 and RFC 3463 name; anything else waits for a retry.
fn route_failure(error: &RouteError) -> RecipientOutcome {
    if error.is_permanent() {
        let code = if matches!(error, RouteError::NullMx { .. }) {
            556
        } else {
            550
        };
        let reply = SmtpReply::from_parts(code, &format!("{} {error}", error.enhanced_code()));
        RecipientOutcome::Permanent {
            reply: Some(reply),
            detail: error.to_string(),
        }
    } else {
        RecipientOutcome::Transient(error.to_string())
    }
}
