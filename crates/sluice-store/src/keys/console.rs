//! Keys of the web console: its sessions, and the per-minute outcome counters its
//! charts draw (the tenant's in its hash tag, every tenant's in `{sluice:stats}`).

use sluice_model::TenantId;

use super::{ROOT, tenant_scope};

/// Delivery outcomes counted per minute in one hour (`hour` = unix seconds / 3600):
/// the tenant's (in its slot), or every tenant's (`None`, in `{sluice:stats}`).
pub fn outcome_counts(tenant: Option<&TenantId>, hour: i64) -> String {
    match tenant {
        Some(tenant) => format!("{}:outcomes:{hour}", tenant_scope(tenant)),
        None => format!("{ROOT}:{{sluice:stats}}:outcomes:{hour}"),
    }
}

/// A web console session, under the SHA-256 of its cookie's secret (a Redis dump
/// holds no usable session). One key per call: no hash tag needed.
pub fn console_session(token_hash: &str) -> String {
    format!("{ROOT}:console-session:{token_hash}")
}
