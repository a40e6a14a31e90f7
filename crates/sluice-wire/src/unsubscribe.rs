//! One-click unsubscribe tokens (RFC 8058): `<ulid>-<recipient index>-<mac>`, the
//! message and recipient an unsubscribe link was made for, authenticated with an
//! HMAC so nobody can unsubscribe an address from a link they made up. The key is
//! separated from the VERP key's use by a label, so one secret serves both.

use std::fmt;

use sluice_model::MessageId;

use crate::token::TokenCodec;

/// 64 bits: a token is public (it sits in every bulk message), so guessing one for
/// a known message id must be out of reach.
const MAC_HEX_LEN: usize = 16;
/// Keeps an unsubscribe MAC from ever being a VERP MAC under the same key.
const LABEL: &[u8] = b"unsubscribe|";

/// Makes and checks unsubscribe tokens (the token format is shared with VERP).
#[derive(Clone)]
pub struct UnsubscribeCodec {
    tokens: TokenCodec,
}

impl fmt::Debug for UnsubscribeCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsubscribeCodec").finish_non_exhaustive()
    }
}

impl UnsubscribeCodec {
    pub fn new(key: &[u8]) -> Self {
        Self {
            tokens: TokenCodec::new(key, LABEL, MAC_HEX_LEN),
        }
    }

    /// The token for `message_id`'s recipient number `recipient_index`; URL- and
    /// local-part-safe (lowercase letters, digits and `-`).
    pub fn token(&self, message_id: &MessageId, recipient_index: u16) -> String {
        self.tokens.encode(message_id, recipient_index)
    }

    /// The message and recipient index of a genuine token (any case).
    pub fn verify(&self, token: &str) -> Option<(MessageId, u16)> {
        self.tokens.decode(token.trim())
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
        // Links already sent must keep working: the MAC is pinned.
        assert_eq!(token, "01jd4k5q8z6y2x1w0v9t8s7r6p-2-770ae08ba37dc7b9");
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
