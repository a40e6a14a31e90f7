//! TLS reporting (RFC 8460): every TLS negotiation with an MX host counted per
//! recipient domain and UTC day in Redis, and once a day the aggregate report
//! (JSON, gzip, `application/tlsrpt+gzip`) POSTed to each `https:` address of the
//! domain's `_smtp._tls` record.
//!
//! Counted per SMTP transaction (a reused connection counts again), which is what
//! the report's "session" counts mean here. Counter fields of the day's hash:
//! `<domain>|<sts|none>|s` (successes), `<domain>|<sts|none>|f|<result type>|<mx
//! host>|<ip>` (failures) and `<domain>|sts|policy` (the last policy applied, JSON).
//!
//! One process sends a day's reports (a lease), and each domain's report is marked
//! sent before it goes, so it goes at most once; a failed POST is logged and not
//! retried (reports are advisory, RFC 8460 §5.4 lets senders drop them).
//!
//! `mailto:` addresses get the report as a message through Sluice's own queue
//! ([`super::mail`]) when `delivery.tls_rpt_from` and `delivery.tls_rpt_tenant` are
//! set; otherwise they are logged and skipped.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use mail_auth::mta_sts::ReportUri;
use mail_auth::report::tlsrpt::{
    DateRange, FailureDetails, Policy as ReportPolicy, PolicyDetails, PolicyType, ResultType,
    Summary, TlsReport,
};
use serde::{Deserialize, Serialize};
use sluice_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

use super::Applied;
use super::fetch::{Fetcher, Txt};

const DAY_MS: i64 = 86_400_000;

/// The UTC day (days since 1970-01-01) of a unix-ms time.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// What one TLS negotiation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Negotiation<'a> {
    Success,
    Failure {
        /// RFC 8460 §4.3 result type (`starttls-not-supported`, …).
        result_type: &'static str,
        mx_host: &'a str,
        ip: Option<IpAddr>,
    },
}

/// Records negotiations (when TLS reporting is on). Cheap to clone.
#[derive(Clone)]
pub struct TlsRecorder {
    store: Store,
    enabled: bool,
}

#[derive(Serialize, Deserialize)]
struct PolicySeen {
    id: String,
    text: String,
}

impl TlsRecorder {
    pub fn new(store: Store, enabled: bool) -> Self {
        Self { store, enabled }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Counts one negotiation with `domain`'s MX under `applied`. A Redis failure is
    /// logged: a lost count never holds up mail.
    pub async fn record(&self, domain: &str, applied: &Applied, negotiation: Negotiation<'_>) {
        if !self.enabled {
            return;
        }
        let kind = if applied.policy.is_some() {
            "sts"
        } else {
            "none"
        };
        let counter = match negotiation {
            Negotiation::Success => format!("{domain}|{kind}|s"),
            Negotiation::Failure {
                result_type,
                mx_host,
                ip,
            } => {
                let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
                format!("{domain}|{kind}|f|{result_type}|{mx_host}|{ip}")
            }
        };
        let mut values = Vec::new();
        if let Some(policy) = &applied.policy
            && let Ok(json) = serde_json::to_string(&PolicySeen {
                id: policy.id.clone(),
                text: policy.text.clone(),
            })
        {
            values.push((format!("{domain}|sts|policy"), json));
        }
        let day = day_of(sluice_model::time::now_ms());
        if let Err(e) = self.store.tls_rpt_record(day, &[counter], &values).await {
            tracing::warn!(%domain, error = %e, "could not record a TLS-RPT outcome");
        }
    }
}

/// Who the reports say they are from (`delivery.tls_rpt_*`).
#[derive(Clone, Debug)]
pub struct ReportIdentity {
    /// `organization-name`.
    pub organization: String,
    /// `contact-info` (an address or URL).
    pub contact: Option<String>,
    /// The sending MTA's host name, in report ids.
    pub submitter: String,
}

/// Builds one domain's report for `day` from the day's counter fields (all
/// domains' fields may be given; only `domain`'s are read). `None` without counts.
pub fn build_report(
    identity: &ReportIdentity,
    domain: &str,
    day: i64,
    fields: &HashMap<String, String>,
) -> Option<TlsReport> {
    let prefix = format!("{domain}|");
    // kind → (successes, failures by (type, mx, ip))
    type Failures = BTreeMap<(String, String, String), u32>;
    let mut kinds: BTreeMap<String, (u32, Failures)> = BTreeMap::new();
    let mut seen_policy: Option<PolicySeen> = None;
    for (field, value) in fields {
        let Some(rest) = field.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('|').collect();
        let count = || value.parse::<u32>().unwrap_or(0);
        match parts.as_slice() {
            ["sts", "policy"] => seen_policy = serde_json::from_str(value).ok(),
            [kind, "s"] => kinds.entry((*kind).to_owned()).or_default().0 += count(),
            [kind, "f", result, mx, ip] => {
                *kinds
                    .entry((*kind).to_owned())
                    .or_default()
                    .1
                    .entry(((*result).to_owned(), (*mx).to_owned(), (*ip).to_owned()))
                    .or_default() += count();
            }
            _ => {}
        }
    }
    if kinds.is_empty() {
        return None;
    }
    let policies = kinds
        .into_iter()
        .map(|(kind, (success, failures))| {
            let mut details = if kind == "sts" {
                let mut d = PolicyDetails::new(PolicyType::Sts, domain);
                if let Some(seen) = &seen_policy {
                    d.policy_string = seen.text.lines().map(str::to_owned).collect();
                    d.mx_host = super::Policy::parse(&seen.text)
                        .map(|p| p.mx)
                        .unwrap_or_default();
                }
                d
            } else {
                PolicyDetails::new(PolicyType::NoPolicyFound, domain)
            };
            details.policy_domain = domain.to_owned();
            let total_failure = failures.values().sum();
            let failure_details = failures
                .into_iter()
                .map(|((result, mx, ip), count)| {
                    let mut f = FailureDetails::new(result_type(&result));
                    if !mx.is_empty() {
                        f = f.with_receiving_mx_hostname(mx);
                    }
                    if let Ok(ip) = ip.parse::<IpAddr>() {
                        f = f.with_receiving_ip(ip);
                    }
                    f.failed_session_count = count;
                    f
                })
                .collect();
            ReportPolicy {
                policy: details,
                summary: Summary {
                    total_success: success,
                    total_failure,
                },
                failure_details,
            }
        })
        .collect();
    let start = day * 86_400;
    Some(TlsReport {
        organization_name: Some(identity.organization.clone()),
        date_range: DateRange::from_timestamps(start, start + 86_399),
        contact_info: identity.contact.clone(),
        report_id: format!("{day}.{domain}@{}", identity.submitter),
        policies,
    })
}

fn result_type(name: &str) -> ResultType {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).unwrap_or_default()
}

/// The report as sent: JSON, gzip-compressed (RFC 8460 §5.3).
pub fn gzip_json(report: &TlsReport) -> std::io::Result<Vec<u8>> {
    let mut encoder = mail_auth::flate2::write::GzEncoder::new(
        Vec::new(),
        mail_auth::flate2::Compression::default(),
    );
    encoder.write_all(report.to_json().as_bytes())?;
    encoder.finish()
}

/// What a day's sending did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentDay {
    /// `(domain, https URL)` of each report POSTed with a 2xx answer.
    pub posted: Vec<(String, String)>,
    /// `(domain, mailto: address)` of each report queued as a message.
    pub mailed: Vec<(String, String)>,
    /// `(domain, address, why)` reports not sent: failed POSTs, refused messages,
    /// `mailto:` addresses without `delivery.tls_rpt_from`.
    pub skipped: Vec<(String, String, String)>,
}

/// Sends each day's reports from one process.
#[derive(Clone)]
pub struct ReportSender {
    pub fetcher: Fetcher,
    pub store: Store,
    pub identity: ReportIdentity,
    /// This process's name, held in the lease.
    pub owner: String,
    /// Sends reports to `mailto:` addresses; `None` skips them.
    pub mail: Option<super::mail::MailSender>,
}

impl ReportSender {
    /// Every hour, sends yesterday's reports if no other process has.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        loop {
            let yesterday = day_of(sluice_model::time::now_ms()) - 1;
            match self
                .store
                .tls_rpt_lease(yesterday, &self.owner, every)
                .await
            {
                Ok(true) => match self.send_day(yesterday).await {
                    Ok(sent) => tracing::info!(
                        day = yesterday,
                        posted = sent.posted.len(),
                        skipped = sent.skipped.len(),
                        "TLS-RPT reports sent"
                    ),
                    Err(e) => tracing::warn!(error = %e, "sending TLS-RPT reports failed"),
                },
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not take the TLS-RPT lease"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Sends `day`'s report of every domain not yet sent.
    pub async fn send_day(&self, day: i64) -> Result<SentDay, StoreError> {
        let fields = self.store.tls_rpt_day(day).await?;
        let mut domains: Vec<&str> = fields
            .keys()
            .filter_map(|f| f.split_once('|').map(|(d, _)| d))
            .collect();
        domains.sort_unstable();
        domains.dedup();
        let mut sent = SentDay::default();
        for domain in domains {
            let Some(report) = build_report(&self.identity, domain, day, &fields) else {
                continue;
            };
            let addresses = match self.fetcher.tls_rpt(domain).await {
                Txt::Found(addresses) => addresses,
                Txt::Absent | Txt::Failed(_) => continue,
            };
            if !self
                .store
                .tls_rpt_mark_sent(day, domain, sluice_model::time::now_ms())
                .await?
            {
                continue;
            }
            let body = match gzip_json(&report) {
                Ok(body) => body,
                Err(e) => {
                    tracing::warn!(%domain, error = %e, "could not compress a TLS-RPT report");
                    continue;
                }
            };
            for address in addresses {
                match address {
                    ReportUri::Http(url) => match self.post(&url, body.clone()).await {
                        Ok(()) => sent.posted.push((domain.to_owned(), url)),
                        Err(reason) => {
                            tracing::info!(%domain, %url, %reason, "TLS-RPT report not accepted");
                            sent.skipped.push((domain.to_owned(), url, reason));
                        }
                    },
                    ReportUri::Mail(address) => {
                        let shown = format!("mailto:{address}");
                        let Some(mail) = &self.mail else {
                            tracing::info!(%domain, %address, "TLS-RPT by mail is not configured; skipped");
                            let why = "delivery.tls_rpt_from is not set".to_owned();
                            sent.skipped.push((domain.to_owned(), shown, why));
                            continue;
                        };
                        let submitter = &self.identity.submitter;
                        let queued = mail
                            .queue(
                                &self.store,
                                &report,
                                body.clone(),
                                domain,
                                submitter,
                                &address,
                            )
                            .await;
                        match queued {
                            Ok(id) => {
                                tracing::info!(%domain, %address, message = %id, "TLS-RPT report queued");
                                sent.mailed.push((domain.to_owned(), shown));
                            }
                            Err(reason) => {
                                tracing::info!(%domain, %address, %reason, "TLS-RPT report not queued");
                                sent.skipped.push((domain.to_owned(), shown, reason));
                            }
                        }
                    }
                }
            }
        }
        Ok(sent)
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> Result<(), String> {
        if !url.starts_with("https://") {
            return Err("only https report addresses are used".into());
        }
        let response = self
            .fetcher
            .client()
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/tlsrpt+gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_report_sums_the_days_counters_per_policy() {
        let identity = ReportIdentity {
            organization: "Sluice Test".into(),
            contact: Some("tls@mta.test".into()),
            submitter: "mta.test".into(),
        };
        let policy = serde_json::to_string(&PolicySeen {
            id: "1".into(),
            text: "version: STSv1\nmode: testing\nmx: mx.a.test\nmax_age: 60\n".into(),
        })
        .unwrap();
        let fields: HashMap<String, String> = [
            ("a.test|sts|s", "3"),
            (
                "a.test|sts|f|certificate-host-mismatch|mx.a.test|127.0.0.1",
                "2",
            ),
            ("a.test|sts|policy", policy.as_str()),
            ("a.test|none|f|starttls-not-supported|mx.a.test|", "1"),
            ("b.test|none|s", "9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let report = build_report(&identity, "a.test", 20_000, &fields).unwrap();
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["organization-name"], "Sluice Test");
        assert_eq!(json["contact-info"], "tls@mta.test");
        assert_eq!(json["date-range"]["start-datetime"], "2024-10-04T00:00:00Z");
        assert_eq!(json["date-range"]["end-datetime"], "2024-10-04T23:59:59Z");
        let policies = json["policies"].as_array().unwrap();
        assert_eq!(policies.len(), 2);
        let none = &policies[0];
        assert_eq!(none["policy"]["policy-type"], "no-policy-found");
        assert_eq!(none["summary"]["total-failure-session-count"], 1);
        let sts = &policies[1];
        assert_eq!(sts["policy"]["policy-type"], "sts");
        assert_eq!(sts["policy"]["policy-domain"], "a.test");
        assert_eq!(sts["policy"]["mx-host"][0], "mx.a.test");
        assert_eq!(sts["policy"]["policy-string"][1], "mode: testing");
        assert_eq!(sts["summary"]["total-successful-session-count"], 3);
        assert_eq!(sts["summary"]["total-failure-session-count"], 2);
        let failure = &sts["failure-details"][0];
        assert_eq!(failure["result-type"], "certificate-host-mismatch");
        assert_eq!(failure["receiving-mx-hostname"], "mx.a.test");
        assert_eq!(failure["receiving-ip"], "127.0.0.1");
        assert_eq!(failure["failed-session-count"], 2);
        assert!(build_report(&identity, "c.test", 20_000, &fields).is_none());
    }
}
