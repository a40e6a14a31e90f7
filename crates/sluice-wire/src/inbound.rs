//! One entry point for mail arriving at the bounce domain: is it a feedback report, a
//! bounce, an automatic reply, or none of them? The message is parsed once and tried as
//! ARF first, because a feedback report's returned original can itself look like a
//! bounce to the heuristic. Only what is neither report is checked for the marks of an
//! automatic reply, because reports carry `Auto-Submitted` too.

use serde::{Deserialize, Serialize};

use crate::arf::{ArfError, ArfReport, parse_arf_message};
use crate::dsn::{DsnError, DsnReport, parse_dsn_message};
use crate::verp::{VerpCodec, VerpToken};
use crate::{auto_reply, fields, mime};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("input is not an email message")]
    NotAMessage,
    #[error("message is neither a bounce nor a feedback report")]
    Unrecognized,
    /// An out-of-office or vacation reply (RFC 3834): says nothing about delivery.
    #[error("message is an automatic reply, not a report")]
    AutoReply,
    #[error(transparent)]
    Arf(ArfError),
    #[error(transparent)]
    Dsn(DsnError),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "report", rename_all = "lowercase")]
pub enum InboundReport {
    Dsn(DsnReport),
    Arf(ArfReport),
}

impl InboundReport {
    /// The VERP token the report carries, if any (see each report's `find_verp`).
    pub fn find_verp(&self, codec: &VerpCodec) -> Option<VerpToken> {
        match self {
            Self::Dsn(report) => report.find_verp(codec),
            Self::Arf(report) => report.find_verp(codec),
        }
    }
}

/// Parses mail received at the bounce domain. Never panics, whatever the input.
pub fn parse_inbound(raw: &[u8]) -> Result<InboundReport, InboundError> {
    let message = mime::parse(raw).ok_or(InboundError::NotAMessage)?;
    match parse_arf_message(raw, &message) {
        Ok(report) => return Ok(InboundReport::Arf(report)),
        Err(ArfError::NotAFeedbackReport) => {}
        Err(other) => return Err(InboundError::Arf(other)),
    }
    match parse_dsn_message(raw, &message) {
        Ok(report) => Ok(InboundReport::Dsn(report)),
        Err(DsnError::NotABounce) => {
            let headers = fields::blocks(&mime::raw_header_section(raw));
            let headers = headers.first().map(Vec::as_slice).unwrap_or_default();
            Err(if auto_reply::is_auto_reply(headers) {
                InboundError::AutoReply
            } else {
                InboundError::Unrecognized
            })
        }
        Err(other) => Err(InboundError::Dsn(other)),
    }
}
