//! MTA-STS and TLS-RPT on the MX path (see [`crate::tls_policy`]): which MX hosts a
//! policy allows, how each is contacted, and what each session is recorded as.

use sluice_model::SmtpReply;
use sluice_smtp_client::{RelayTarget, SmtpError, TlsMode, TransactionOutcome};

use crate::routing::MxHost;
use crate::tls_policy::report::{Negotiation, TlsRecorder};
use crate::tls_policy::{Applied, Mode, MtaSts};

/// The outbound TLS policy services a dispatcher uses.
#[derive(Clone)]
pub struct TlsPolicy {
    pub sts: MtaSts,
    pub recorder: TlsRecorder,
}

/// The reply a recipient gets when a policy in `enforce` mode stops its mail:
/// transient (4.7.5, "cryptographic failure"), so it is retried and eventually
/// bounced at the maximum age, never sent in plain text.
pub(super) fn refusal(domain: &str, why: &str) -> SmtpReply {
    SmtpReply::from_parts(
        451,
        &format!("4.7.5 MTA-STS policy of {domain} (enforce): {why}; not delivered"),
    )
}

/// In `enforce` mode, only the MX hosts the policy's `mx` patterns match; `Err`
/// names the hosts when none does.
pub(super) fn allowed_hosts(applied: &Applied, hosts: Vec<MxHost>) -> Result<Vec<MxHost>, String> {
    let Some(policy) = applied
        .policy
        .as_ref()
        .filter(|_| applied.mode() == Mode::Enforce)
    else {
        return Ok(hosts);
    };
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let allowed: Vec<MxHost> = hosts
        .into_iter()
        .filter(|h| policy.policy.matches(&h.name))
        .collect();
    if allowed.is_empty() {
        return Err(format!(
            "no MX host ({}) matches the policy's mx patterns ({})",
            names.join(", "),
            policy.policy.mx.join(", ")
        ));
    }
    Ok(allowed)
}

/// Whether `host` is contacted with verified STARTTLS: every allowed host under
/// `enforce`, and under `testing` the hosts the policy matches (a failure there is
/// recorded, then the host is tried as usual).
pub(super) fn verify(applied: &Applied, host: &MxHost) -> bool {
    match (&applied.policy, applied.mode()) {
        (Some(_), Mode::Enforce) => true,
        (Some(policy), Mode::Testing) => policy.policy.matches(&host.name),
        _ => false,
    }
}

/// `target` switched to STARTTLS verified against the MX host's name.
pub(super) fn verified(mut target: RelayTarget, host: &MxHost) -> RelayTarget {
    target.tls = TlsMode::StartTls;
    target.tls_name = Some(host.name.clone());
    target.accept_invalid_certs = false;
    target
}

/// Records a session's TLS outcome (no record when no TLS negotiation happened:
/// a refused connection, a timeout before STARTTLS).
pub(super) async fn record(
    recorder: &TlsRecorder,
    domain: &str,
    applied: &Applied,
    host: &MxHost,
    target: &RelayTarget,
    sent: &Result<TransactionOutcome, SmtpError>,
) {
    if !recorder.enabled() {
        return;
    }
    let failure = match sent {
        Ok(outcome) => match outcome.tls.failure() {
            Some(failure) => Some(failure.result_type()),
            None if outcome.tls == sluice_smtp_client::SessionTls::Encrypted => None,
            None => return,
        },
        Err(e) => match e.tls_failure() {
            Some(failure) => Some(failure.result_type()),
            None => return,
        },
    };
    let negotiation = match failure {
        None => Negotiation::Success,
        Some(result_type) => Negotiation::Failure {
            result_type,
            mx_host: &host.name,
            ip: target.host.parse().ok(),
        },
    };
    recorder.record(domain, applied, negotiation).await;
}

/// Records that `host` is not among the policy's `mx` patterns (`testing` mode
/// delivers anyway; `enforce` never contacts it).
pub(super) async fn record_mismatch(
    recorder: &TlsRecorder,
    domain: &str,
    applied: &Applied,
    host: &str,
) {
    let negotiation = Negotiation::Failure {
        result_type: "validation-failure",
        mx_host: host,
        ip: None,
    };
    recorder.record(domain, applied, negotiation).await;
}
