//! One-click unsubscribe tokens (RFC 8058): `<ulid>-<recipient index>-<mac>`, the
//! message and recipient an unsubscribe link was made for, authenticated with an
//! HMAC so nobody can unsubscribe an address from a link they made up. The key is
//! separated from the VERP key's use by a label, so one secret serves both.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sluice_model::MessageId;
use subtle::ConstantTimeEq;

/// 64 bits: a token is public (it sits in every bulk message), so guessing one for
/// a known message id must be out of reach.
const MAC_HEX_LEN: usize = 16;
const ULID_LEN: usize = 26;

/// Makes and checks unsubscribe tokens.
#[derive(Clone)]
pub struct UnsubscribeCodec {
    key: Vec<u8>,
}

impl fmt::Debug for UnsubscribeCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsubscribeCodec").finish_non_exhaustive()
    }
}

impl UnsubscribeCodec {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// The token for `message_id`'s recipient number `recipient_index`; URL- and
    /// local-part-safe (lowercase letters, digits and `-`).
    pub fn token(&self, message_id: &MessageId, recipient_index: u16) -> String {
        let ulid = &message_id.as_str()[MessageId::PREFIX.len()..];
        format!(
            "{}-{recipient_index}-{}",
            ulid.to_ascii_lowercase(),
            self.mac_hex(message_id, recipient_index)
        )
    }

    /// The message and recipient index of a genuine token (any case).
    pub fn verify(&self, token: &str) -> Option<(MessageId, u16)> {
        let token = token.trim().to_ascii_lowercase();
        let mut parts = token.split('-');
        let (ulid, index, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || ulid.len() != ULID_LEN || mac.len() != MAC_HEX_LEN {
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

    fn mac_hex(&self, message_id: &MessageId, recipient_index: u16) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(b"unsubscribe|");
        mac.update(message_id.as_str().to_ascii_lowercase().as_bytes());
        mac.update(b"|");
        mac.update(recipient_index.to_string().as_bytes());
        mac.finalize().into_bytes()[..MAC_HEX_LEN / 2]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        let codec = UnsubscribeCodec::new(b"unit-test-key");
        let id = MessageId::parse("msg_01jd4k5q8z6y2x1w0v9t8s7r6p").expect("id");
        let token = codec.token(&id, 2);
        assert_eq!(codec.verify(&token), Some((id.clone(), 2)));
        assert_eq!(
            codec.verify(&token.to_ascii_uppercase()),
            Some((id.clone(), 2))
        );
        let other_index = token.replacen("-2-", "-3-", 1);
        assert_eq!(
            codec.verify(&other_index),
            None,
            "the index is authenticated"
        );
        assert_eq!(UnsubscribeCodec::new(b"another-key").verify(&token), None);
        assert_eq!(codec.verify("garbage"), None);
        assert_eq!(codec.verify(&format!("{token}-1")), None);
    }
}
