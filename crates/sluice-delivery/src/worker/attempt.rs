//! One delivery attempt of a job: its unfinished recipients in one transaction (or
//! one each, for bulk mail with per-recipient unsubscribe links), the message built
//! and signed only when a destination is ready for it, on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use sluice_model::{MessageStream, TenantId};
use sluice_store::DeliveryJob;
use tokio::task::JoinSet;

use super::dispatch::{BuildError, LazyMessage, Outgoing};
use super::outcome::AttemptResult;
use super::signers::{SignerError, SignerSet};
use super::{Worker, return_path};
use crate::mime::{MimeEnvelopeInfo, build_message};

impl Worker {
    /// `domain_version`: the sending domain's version as just read (`None`: the
    /// tenant no longer has the domain).
    pub(super) async fn attempt(
        &self,
        job: &DeliveryJob,
        domain_version: Option<u64>,
    ) -> AttemptResult {
        let pending: Vec<String> = job
            .recipients
            .iter()
            .filter(|r| !r.status.is_final())
            .map(|r| r.address.clone())
            .collect();
        if pending.is_empty() {
            return AttemptResult::replies(Vec::new());
        }
        let domain = job.message.from.address.domain();
        let signer = match self
            .inner
            .signers
            .get(&job.tenant, domain, domain_version)
            .await
        {
            Ok(signer) => signer,
            Err(SignerError::Store(e)) => {
                return AttemptResult::unavailable(format!("loading the DKIM key: {e}"));
            }
            Err(e) => return AttemptResult::failed(e.to_string()),
        };
        if job.test {
            // A sandbox key's message: built and signed, never sent (see `sandbox`).
            return self.simulate(job, signer).await;
        }
        let pool = self.pool_for(&job.tenant, job.entry.stream).await;
        let paths = self.inner.config.return_paths.as_ref();
        let index_of = |address: &str| {
            job.recipients
                .iter()
                .position(|r| r.address.eq_ignore_ascii_case(address))
                .map_or(return_path::SEVERAL, |i| i as u16)
        };
        // Bulk mail carries a one-click unsubscribe link per recipient, so each
        // recipient gets its own copy (and transaction); other mail goes out once.
        let groups: Vec<Vec<String>> = if job.entry.stream == MessageStream::Bulk && paths.is_some()
        {
            pending.into_iter().map(|r| vec![r]).collect()
        } else {
            vec![pending]
        };
        let mut sends = JoinSet::new();
        for recipients in groups {
            let indexes: Vec<u16> = recipients.iter().map(|r| index_of(r)).collect();
            let headers = match (paths, indexes.as_slice()) {
                (Some(paths), [index]) if job.entry.stream == MessageStream::Bulk => {
                    paths.unsubscribe_headers(&job.entry.message_id, *index)
                }
                _ => Vec::new(),
            };
            let (worker, signed_job, signer) = (self.clone(), job.clone(), signer.clone());
            let data = LazyMessage::new(async move {
                worker.build_and_sign(&signed_job, signer, headers).await
            });
            let outgoing = Outgoing {
                stream: job.entry.stream,
                pool: pool.clone(),
                // VERP: a later bounce or complaint names the message and recipient.
                mail_from: Some(paths.map_or_else(
                    || job.message.from.address.to_string(),
                    |p| p.mail_from(&job.entry.message_id, &indexes),
                )),
                smtputf8: job.message.needs_smtputf8(),
                data,
            };
            let dispatcher = self.inner.dispatcher.clone();
            sends.spawn(async move { dispatcher.send(outgoing, recipients).await });
        }
        let mut result = AttemptResult::transient("the delivery task did not finish");
        while let Some(part) = sends.join_next().await {
            match part {
                Ok(part) => result.merge(part),
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
        }
        result
    }

    /// The pool for this tenant and stream: the tenant's own choice (PATCH
    /// /v1/admin/tenants/{id}), else the stream's configured default.
    async fn pool_for(&self, tenant: &TenantId, stream: MessageStream) -> Option<String> {
        const TTL: Duration = Duration::from_secs(30);
        let cached = {
            let cache = self
                .inner
                .tenant_pools
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .get(tenant)
                .filter(|(at, _)| at.elapsed() < TTL)
                .map(|(_, pools)| pools.clone())
        };
        let overrides = match cached {
            Some(pools) => pools,
            None => {
                let pools = match self.inner.store.get_tenant(tenant).await {
                    Ok(Some(view)) => view.pools,
                    Ok(None) => Default::default(),
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "could not read the tenant's pools; using the defaults");
                        return self.default_pool(stream);
                    }
                };
                let mut cache = self
                    .inner
                    .tenant_pools
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.insert(tenant.clone(), (std::time::Instant::now(), pools.clone()));
                pools
            }
        };
        overrides
            .get(&stream)
            .cloned()
            .or_else(|| self.default_pool(stream))
    }

    fn default_pool(&self, stream: MessageStream) -> Option<String> {
        self.inner
            .config
            .stream_pools
            .iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, name)| name.clone())
    }

    /// MIME building and DKIM signing on the blocking pool, at most one per core.
    /// Transactional jobs are served first: an OTP waits for one signing job to
    /// finish, never for the queue of bulk messages ahead of it. No core is reserved
    /// (on a two-core machine that would halve bulk signing): a job is a few
    /// milliseconds, so jumping the queue is enough.
    pub(super) async fn build_and_sign(
        &self,
        job: &DeliveryJob,
        signer: Arc<SignerSet>,
        extra_headers: Vec<(String, String)>,
    ) -> Result<Vec<u8>, BuildError> {
        let _cpu = self.inner.cpu.acquire(job.entry.stream).await;
        let message = job.message.clone();
        let message_id = job
            .message_id_header
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string();
        let date = job.due_at();
        tokio::task::spawn_blocking(move || {
            let info = MimeEnvelopeInfo {
                message_id: &message_id,
                date,
                extra_headers: &extra_headers,
            };
            let unsigned = build_message(&message, &info).map_err(BuildError::Mime)?;
            signer.sign_into(&unsigned).map_err(BuildError::Sign)
        })
        .await
        .map_err(BuildError::Task)?
    }
}
