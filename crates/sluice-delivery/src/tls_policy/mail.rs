//! TLS-RPT reports by mail (RFC 8460 §5.3): a `mailto:` report address gets the
//! report as a message through Sluice's own queue — accepted like any send, from the
//! configured tenant and address (`delivery.tls_rpt_tenant`, `delivery.tls_rpt_from`),
//! DKIM-signed with that tenant's domain, delivered, retried and reported as usual.
//!
//! The message carries the RFC's `TLS-Report-Domain` and `TLS-Report-Submitter`
//! headers, its subject, and the gzip report as an `application/tlsrpt+gzip`
//! attachment named `<submitter>!<domain>!<begin>!<end>.json.gz` (§5.1). Unlike
//! §5.3, the top-level type is Sluice's usual `multipart/mixed`, not
//! `multipart/report; report-type="tlsrpt"` (the MIME builder has no such form).

use std::collections::BTreeMap;

use mail_auth::report::tlsrpt::TlsReport;
use sluice_model::{
    Attachment, HeaderName, HeaderValue, Mailbox, MessageId, MessageStream, OutboundMessage,
    TenantId, TenantQuotas,
};
use sluice_store::{AcceptOutcome, NewMessage, Store};

/// Who sends the mailed reports.
#[derive(Clone, Debug)]
pub struct MailSender {
    pub tenant: TenantId,
    pub from: Mailbox,
    /// The quotas the accept checks against (the tenant's own overrides apply).
    pub quotas: TenantQuotas,
}

impl MailSender {
    /// Queues `report` (already gzip-compressed as `gzip`) to `to`.
    pub async fn queue(
        &self,
        store: &Store,
        report: &TlsReport,
        gzip: Vec<u8>,
        domain: &str,
        submitter: &str,
        to: &str,
    ) -> Result<MessageId, String> {
        let message = self.message(report, gzip, domain, submitter, to)?;
        let id = MessageId::generate();
        let header = format!("<{id}@{}>", self.from.address.domain());
        let new = NewMessage {
            tenant: &self.tenant,
            id: &id,
            message: &message,
            message_id_header: &header,
            idempotency: None,
            now: time::OffsetDateTime::now_utc(),
            test: false,
        };
        match store.accept_message(new, &self.quotas).await {
            Ok((AcceptOutcome::Created { id, .. } | AcceptOutcome::Replayed { id, .. }, _)) => {
                Ok(id)
            }
            Ok((other, _)) => Err(format!("not accepted: {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn message(
        &self,
        report: &TlsReport,
        gzip: Vec<u8>,
        domain: &str,
        submitter: &str,
        to: &str,
    ) -> Result<OutboundMessage, String> {
        let to = Mailbox::parse(to).map_err(|e| format!("report address {to}: {e}"))?;
        let header = |name: &str, value: &str| -> Result<(HeaderName, HeaderValue), String> {
            Ok((
                HeaderName::parse(name).map_err(str::to_owned)?,
                HeaderValue::parse(value).map_err(str::to_owned)?,
            ))
        };
        let begin = report.date_range.start_datetime.to_timestamp();
        let end = report.date_range.end_datetime.to_timestamp();
        Ok(OutboundMessage {
            from: self.from.clone(),
            to: vec![to],
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: None,
            subject: format!(
                "Report Domain: {domain} Submitter: {submitter} Report-ID: <{}>",
                report.report_id
            ),
            text: Some(format!(
                "This is an aggregate TLS report (RFC 8460) for {domain} from {submitter}.\r\n"
            )),
            html: None,
            headers: vec![
                header("TLS-Report-Domain", domain)?,
                header("TLS-Report-Submitter", submitter)?,
            ],
            attachments: vec![Attachment {
                filename: format!("{submitter}!{domain}!{begin}!{end}.json.gz"),
                content_type: "application/tlsrpt+gzip".into(),
                content: gzip,
            }],
            stream: MessageStream::Transactional,
            tags: vec!["tls-rpt".into()],
            metadata: BTreeMap::new(),
            send_at: None,
            raw: None,
        })
    }
}
