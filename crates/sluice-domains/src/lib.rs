//! Sending domains: the DNS records a tenant publishes, their verification, DKIM keys
//! and signing, and the keys' life (rotation, re-verification).
//!
//! - [`dkim`] generates keys, signs (CPU work: callers run it off the reactor) and
//!   writes the DNS records to publish,
//! - [`records`] compares what DNS answers with what should be published,
//! - [`lifecycle`] moves keys along their life (pending → active → retiring → gone),
//! - [`DomainVerifier`] looks the records up, applies the lifecycle and stores the
//!   outcome; [`Reverifier`] runs it periodically for every domain,
//! - [`provision`] holds the use cases that make keys: a new domain, a rotation,
//! - [`resolver`] is the one DNS resolver builder, shared with MX routing in
//!   `sluice-delivery`, and the one reading of hickory's errors.
//!
//! No SMTP here: this crate needs DNS, Redis (through `sluice-store`) and crypto only.

pub mod dkim;
pub mod lifecycle;
pub mod lookup;
pub mod provision;
pub mod records;
pub mod resolver;
mod reverify;
mod verify;

use time::OffsetDateTime;

pub use provision::{DomainError, Rotation, provision_domain, rotate_dkim_key};
pub use resolver::ResolverConfig;
pub use reverify::Reverifier;
pub use verify::{DomainSettings, DomainVerifier, VerifyError};

/// The current time at the precision domains are stored with (milliseconds), so an
/// answer built from a record just written equals the record read back later.
pub fn now() -> OffsetDateTime {
    sluice_model::time::from_ms(sluice_model::time::now_ms())
}
