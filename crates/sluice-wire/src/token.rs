//! The token VERP return paths and unsubscribe links share:
//! `<ulid>-<recipient index>-<mac>`, naming one recipient of one message,
//! authenticated by a truncated HMAC-SHA256 over `"<label><message id>|<index>"`.
//!
//! Each use has its own label (so one secret serves both without one kind of token
//! passing for the other) and its own MAC length (a VERP address is short and each
//! guess costs an inbound email; an unsubscribe token is public and cheap to try). The
//! token is all lowercase because some MTAs change the case of local parts; decoding
//! ignores case, and there is one spelling per token ("007" or "+7" would be a second
//! token for index 7).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sluice_model::MessageId;
use subtle::ConstantTimeEq;

/// Characters of a message id's ULID.
pub(crate) const ULID_LEN: usize = 26;
/// Digits of the largest recipient index, `65535`.
pub(crate) const MAX_INDEX_DIGITS: usize = 5;

/// Makes and checks tokens of one kind with one key.
#[derive(Clone)]
pub(crate) struct TokenCodec {
    key: Vec<u8>,
    /// Prefixed to what the MAC covers: tells the kinds of token apart.
    label: &'static [u8],
    /// Hex digits of the MAC kept in the token (even).
    mac_hex_len: usize,
}

impl fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCodec")
            .field("mac_hex_len", &self.mac_hex_len)
            .finish_non_exhaustive()
    }
}

impl TokenCodec {
    pub(crate) fn new(key: &[u8], label: &'static [u8], mac_hex_len: usize) -> Self {
        Self {
            key: key.to_vec(),
            label,
            mac_hex_len,
        }
    }

    /// `<ulid>-<recipient index>-<mac>`: lowercase letters, digits and `-`.
    pub(crate) fn encode(&self, message_id: &MessageId, recipient_index: u16) -> String {
        let ulid = &message_id.as_str()[MessageId::PREFIX.len()..];
        format!(
            "{}-{recipient_index}-{}",
            ulid.to_ascii_lowercase(),
            self.mac_hex(message_id, recipient_index)
        )
    }

    /// The message and recipient index of a genuine token (any case). Anything else
    /// — another shape, a non-canonical number, a bad MAC — is `None`.
    pub(crate) fn decode(&self, token: &str) -> Option<(MessageId, u16)> {
        let token = token.to_ascii_lowercase();
        let mut parts = token.split('-');
        let (ulid, index, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || ulid.len() != ULID_LEN || mac.len() != self.mac_hex_len {
            return None;
        }
        let recipient_index: u16 = index.parse().ok()?;
        if recipient_index.to_string() != index {
            return None;
        }
        let message_id = MessageId::parse(&format!("{}{ulid}", MessageId::PREFIX)).ok()?;
        let expected = self.mac_hex(&message_id, recipient_index);
        bool::from(expected.as_bytes().ct_eq(mac.as_bytes()))
            .then_some((message_id, recipient_index))
    }

    /// The shape of a token, checked without an HMAC (for scans of hostile text that
    /// must not spend one on every candidate).
    pub(crate) fn well_formed(&self, token: &str) -> bool {
        let mut parts = token.split('-');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(ulid), Some(index), Some(mac), None) => {
                ulid.len() == ULID_LEN
                    && (1..=MAX_INDEX_DIGITS).contains(&index.len())
                    && index.bytes().all(|b| b.is_ascii_digit())
                    && mac.len() == self.mac_hex_len
                    && mac.bytes().all(|b| b.is_ascii_hexdigit())
            }
            _ => false,
        }
    }

    fn mac_hex(&self, message_id: &MessageId, recipient_index: u16) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(self.label);
        mac.update(message_id.as_str().to_ascii_lowercase().as_bytes());
        mac.update(b"|");
        mac.update(recipient_index.to_string().as_bytes());
        mac.finalize().into_bytes()[..self.mac_hex_len / 2]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> MessageId {
        MessageId::parse("msg_01jd4k5q8z6y2x1w0v9t8s7r6p").expect("id")
    }

    #[test]
    fn labels_and_lengths_make_distinct_tokens() {
        let verp = TokenCodec::new(b"k", b"", 8);
        let other = TokenCodec::new(b"k", b"other|", 8);
        let token = verp.encode(&id(), 1);
        assert!(verp.well_formed(&token));
        assert_eq!(verp.decode(&token), Some((id(), 1)));
        assert_eq!(other.decode(&token), None, "the label is authenticated");
        let long = TokenCodec::new(b"k", b"", 16);
        assert!(!long.well_formed(&token));
        assert_eq!(long.decode(&token), None);
    }

    #[test]
    fn shapes_are_checked_without_a_mac() {
        let codec = TokenCodec::new(b"k", b"", 8);
        let ulid = "01jd4k5q8z6y2x1w0v9t8s7r6p";
        assert!(codec.well_formed(&format!("{ulid}-65535-0badc0de")));
        for bad in [
            format!("{ulid}-123456-0badc0de"),
            format!("{ulid}--0badc0de"),
            format!("{ulid}-1-0badc0dx"),
            format!("{ulid}-1-0badc0de-"),
            "x-1-0badc0de".to_string(),
        ] {
            assert!(!codec.well_formed(&bad), "{bad}");
        }
    }
}
