//! The integration tests: one binary, one module per area, so the shared helpers
//! (`common`, `sluice_process`, `bounce_support`, `domain_support`) and the crates
//! under test are compiled and linked once, not once per area.
//!
//! Every test starts its own redis-server on a free port, a real SMTP sink on
//! loopback and Sluice's roles (in-process, or the real `sluice` binary); nothing is
//! shared between tests but this process. Run one area with
//! `cargo test -p sluice --test it send_path::`, one test by its full path.

mod bounce_support;
mod common;
mod domain_support;
mod sluice_process;
mod tls_support;

mod api_errors;
mod api_keys;
mod bounces;
mod cancel;
mod cluster;
mod console;
mod console_browser;
mod contract_fuzz;
mod crash_recovery;
mod delivery;
mod dev_restart;
mod dkim_keys;
mod dnsbl;
mod domains;
mod durability;
mod http_limits;
mod inbound_hostile;
mod metrics_export;
mod mta_sts;
mod openapi_drift;
mod outbound_policy;
mod quotas;
mod reputation;
mod reserve;
mod routing;
mod sandbox;
mod scheduled;
mod sdks;
mod send_path;
mod shaping;
mod submission;
mod suppression;
mod templates;
mod tenant_isolation;
mod webhooks;
