//! VERP return paths: `bounces+<ulid>-<recipient index>-<mac>@<bounce domain>`.
//!
//! Every message goes out with its own envelope sender, so a bounce tells us which
//! message and which recipient failed from its *address* alone, even when the DSN is
//! malformed or the remote MTA rewrote the original recipient (forwarding, aliases).
//!
//! The short MAC (first 8 hex digits of HMAC-SHA256 over `"<message id>|<index>"`, in
//! the token format unsubscribe links share) stops anyone from suppressing arbitrary
//! recipients by mailing forged bounces to guessed addresses: 32 bits is plenty when
//! each guess costs one inbound email. The token is all lowercase because some MTAs
//! change the case of local parts; decoding ignores case.

use std::fmt;

use serde::{Deserialize, Serialize};
use sluice_model::{DomainName, MessageId};

use crate::token::{MAX_INDEX_DIGITS, TokenCodec, ULID_LEN};

/// Local part before the `+`; the bounce domain routes `bounces+*` to our receiver.
const LOCAL_PREFIX: &str = "bounces+";
const MAC_HEX_LEN: usize = 8;
/// What VERP MACs cover before the message id: nothing (the first kind of token,
/// kept as it was so return paths already out in the world still decode).
const LABEL: &[u8] = b"";
/// Well-formed candidates [`VerpCodec::find_in`] verifies before it gives up. Real
/// returned headers hold one or two; only a crafted text holds more.
const MAX_MAC_CHECKS: usize = 16;

/// What a VERP address identifies: one recipient of one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VerpToken {
    pub message_id: MessageId,
    /// Position of the recipient in the message's recipient list.
    pub recipient_index: u16,
}

/// Encodes and checks VERP addresses for one bounce domain with one key.
#[derive(Clone)]
pub struct VerpCodec {
    tokens: TokenCodec,
    bounce_domain: DomainName,
}

impl fmt::Debug for VerpCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerpCodec")
            .field("bounce_domain", &self.bounce_domain)
            .finish_non_exhaustive()
    }
}

impl VerpCodec {
    pub fn new(key: &[u8], bounce_domain: DomainName) -> Self {
        Self {
            tokens: TokenCodec::new(key, LABEL, MAC_HEX_LEN),
            bounce_domain,
        }
    }

    pub fn bounce_domain(&self) -> &DomainName {
        &self.bounce_domain
    }

    /// The full return path for one recipient of a message.
    pub fn encode(&self, message_id: &MessageId, recipient_index: u16) -> String {
        format!(
            "{LOCAL_PREFIX}{}@{}",
            self.tokens.encode(message_id, recipient_index),
            self.bounce_domain
        )
    }

    /// Decodes `bounces+…@domain`, `<bounces+…@domain>` or a bare `bounces+…` local part.
    /// Anything else — other domains, bad MACs, non-canonical numbers — is `None`.
    pub fn decode(&self, address_or_local_part: &str) -> Option<VerpToken> {
        let value = address_or_local_part.trim();
        let value = value.strip_prefix('<').unwrap_or(value);
        let value = value.strip_suffix('>').unwrap_or(value);
        let value = value.to_ascii_lowercase();
        let local = match value.rsplit_once('@') {
            Some((local, domain)) => {
                let domain = domain.strip_suffix('.').unwrap_or(domain);
                if domain != self.bounce_domain.as_str() {
                    return None;
                }
                local
            }
            None => value.as_str(),
        };
        let (message_id, recipient_index) =
            self.tokens.decode(local.strip_prefix(LOCAL_PREFIX)?)?;
        Some(VerpToken {
            message_id,
            recipient_index,
        })
    }

    /// The first valid token for this domain anywhere in `text` — typically the headers
    /// of a returned original message (`Return-Path`, `Received: … for <…>`), where the
    /// address sits among arbitrary punctuation.
    ///
    /// Linear in `text`, whatever it holds: the text is hostile (a report can return a
    /// header line of megabytes that repeats `bounces+`), so each occurrence is read for
    /// at most the length of a valid address and rejected as soon as it is longer, and at
    /// most [`MAX_MAC_CHECKS`] well-formed candidates are verified (each costs an HMAC).
    pub fn find_in(&self, text: &str) -> Option<VerpToken> {
        let lower = text.to_ascii_lowercase();
        let bytes = lower.as_bytes();
        // `bounces+` + ulid + `-` + index + `-` + mac + `@` + domain + a trailing dot.
        let longest = LOCAL_PREFIX.len()
            + ULID_LEN
            + MAX_INDEX_DIGITS
            + MAC_HEX_LEN
            + 4
            + self.bounce_domain.as_str().len();
        let mut checks = 0;
        for (start, _) in lower.match_indices(LOCAL_PREFIX) {
            // Fail fast on what cannot be a token: a ULID and a dash come first.
            let ulid =
                bytes.get(start + LOCAL_PREFIX.len()..start + LOCAL_PREFIX.len() + ULID_LEN + 1);
            if !ulid.is_some_and(|u| {
                u[ULID_LEN] == b'-' && u[..ULID_LEN].iter().all(u8::is_ascii_alphanumeric)
            }) {
                continue;
            }
            let run = bytes[start..]
                .iter()
                .take(longest + 1)
                .take_while(|&&b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'@')
                })
                .count();
            if run > longest {
                continue; // longer than any address we make: not one of ours
            }
            // Only ASCII was taken, so the slice ends on a character boundary.
            let candidate = lower[start..start + run].trim_end_matches('.');
            if !self.well_formed(candidate) {
                continue;
            }
            if let Some(token) = self.decode(candidate) {
                return Some(token);
            }
            checks += 1;
            if checks >= MAX_MAC_CHECKS {
                return None;
            }
        }
        None
    }

    /// The shape of `bounces+<ulid>-<index>-<mac>[@domain]`, checked without an HMAC.
    fn well_formed(&self, candidate: &str) -> bool {
        let local = candidate
            .split_once('@')
            .map_or(candidate, |(local, _)| local);
        local
            .strip_prefix(LOCAL_PREFIX)
            .is_some_and(|token| self.tokens.well_formed(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> VerpCodec {
        let domain = DomainName::parse("bounces.sluice.test").expect("domain");
        VerpCodec::new(b"unit-test-key", domain)
    }

    fn message_id() -> MessageId {
        MessageId::parse("msg_01jd4k5q8z6y2x1w0v9t8s7r6p").expect("id")
    }

    #[test]
    fn round_trips() {
        let codec = codec();
        let address = codec.encode(&message_id(), 3);
        assert!(address.starts_with("bounces+01jd4k5q8z6y2x1w0v9t8s7r6p-3-"));
        assert!(address.ends_with("@bounces.sluice.test"));
        assert!(
            address
                .split('@')
                .next()
                .is_some_and(|local| local.len() <= 64)
        );
        let token = codec.decode(&address).expect("decodes");
        assert_eq!(token.message_id, message_id());
        assert_eq!(token.recipient_index, 3);
        let local = address.split('@').next().expect("local part");
        assert_eq!(codec.decode(local), Some(token.clone()));
        assert_eq!(codec.decode(&format!("<{address}>")), Some(token));
    }

    /// Return paths already out in the world must keep decoding: the MAC is pinned.
    #[test]
    fn the_mac_is_stable() {
        assert_eq!(
            codec().encode(&message_id(), 3),
            "bounces+01jd4k5q8z6y2x1w0v9t8s7r6p-3-ea2258b4@bounces.sluice.test"
        );
    }

    #[test]
    fn accepts_any_case() {
        let codec = codec();
        let address = codec.encode(&message_id(), 65535);
        let token = codec
            .decode(&address.to_uppercase())
            .expect("uppercase decodes");
        assert_eq!(token.recipient_index, 65535);
    }

    #[test]
    fn rejects_tampering() {
        let codec = codec();
        let address = codec.encode(&message_id(), 0);
        let (local, domain) = address.split_once('@').expect("address");
        let last = local.chars().last().expect("mac digit");
        let flipped = if last == '0' { '1' } else { '0' };
        let tampered = format!("{}{flipped}@{domain}", &local[..local.len() - 1]);
        assert_eq!(codec.decode(&tampered), None);
        let other_index = address.replacen("-0-", "-1-", 1);
        assert_eq!(codec.decode(&other_index), None);
        let padded = address.replacen("-0-", "-00-", 1);
        assert_eq!(codec.decode(&padded), None);
        let other_key = VerpCodec::new(b"another-key", codec.bounce_domain().clone());
        assert_eq!(other_key.decode(&address), None);
    }

    #[test]
    fn rejects_other_domains_and_shapes() {
        let codec = codec();
        let address = codec.encode(&message_id(), 1);
        let local = address.split('@').next().expect("local part");
        assert_eq!(codec.decode(&format!("{local}@bounces.example.com")), None);
        assert!(
            codec
                .decode(&format!("{local}@bounces.sluice.test."))
                .is_some()
        );
        for garbage in [
            "",
            "bounces+",
            "bounces+x-1-abcdef12",
            "postmaster@bounces.sluice.test",
        ] {
            assert_eq!(codec.decode(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn finds_a_token_in_headers() {
        let codec = codec();
        let address = codec.encode(&message_id(), 2);
        let headers = format!(
            "Received: from x by y\n\tfor <BOUNCES+nope-1-00000000@bounces.sluice.test>;\n\
             Return-Path: <{}>\nSubject: hi\n",
            address.to_uppercase()
        );
        let token = codec.find_in(&headers).expect("found");
        assert_eq!(token.recipient_index, 2);
        assert_eq!(codec.find_in(&format!("Sent by {address}.")), Some(token));
        assert_eq!(codec.find_in("no token here: bounces+"), None);
        assert_eq!(codec.find_in("é bounces+ü"), None);
    }

    /// Five megabytes of text built to make a naive scan quadratic: each occurrence of
    /// `bounces+` used to be read to the end of the text. The bound is generous (the scan
    /// takes milliseconds); the quadratic version took hours on this input.
    #[test]
    fn searching_hostile_text_is_linear() {
        let codec = codec();
        let real = codec.encode(&message_id(), 4);
        let (ulid, mac) = ("01jd4k5q8z6y2x1w0v9t8s7r6p", "0badc0de");
        let hostile = |bytes: usize| {
            [
                "bounces+".repeat(bytes / 8),
                format!("bounces+{ulid}-").repeat(bytes / 35),
                format!("bounces+{ulid}-1-{mac}@bounces.sluice.test ").repeat(bytes / 64),
                format!("bounces+{ulid}-1-{mac}").repeat(bytes / 45),
            ]
        };
        // Linear, not timed: ten times the text may take about ten times as long (a
        // quadratic search would take a hundred times), measured as the best of three
        // runs so a busy machine does not decide the outcome.
        let best_of_three = |text: &str| {
            (0..3)
                .map(|_| {
                    let started = std::time::Instant::now();
                    std::hint::black_box(codec.find_in(text));
                    started.elapsed()
                })
                .min()
                .unwrap_or_default()
        };
        let (small, large) = (hostile(512 * 1024), hostile(5 * 1024 * 1024));
        for (i, (small, large)) in small.iter().zip(&large).enumerate() {
            assert_eq!(codec.find_in(large), None, "case {i}");
            let ratio =
                best_of_three(large).as_secs_f64() / best_of_three(small).as_secs_f64().max(1e-6);
            assert!(
                ratio < 40.0,
                "case {i}: 10x the text took {ratio:.1}x as long"
            );
            let found = codec.find_in(&format!("{large} <{real}>"));
            // Forged well-formed tokens use up the HMAC budget; anything else does not.
            if i == 2 {
                assert_eq!(found, None, "case {i}");
            } else {
                assert_eq!(found.map(|t| t.recipient_index), Some(4), "case {i}");
            }
        }
    }

    #[test]
    fn only_as_many_candidates_as_an_address_can_be_long() {
        let codec = codec();
        let address = codec.encode(&message_id(), 7);
        // Glued to more address characters, it is a different (foreign) address.
        assert_eq!(codec.find_in(&format!("{address}.example.org")), None);
        assert_eq!(codec.find_in(&format!("x{address}-")), None);
        assert!(codec.find_in(&format!("({address}).")).is_some());
        assert!(codec.find_in(&format!("for <{address}>;")).is_some());
        let local = address.split('@').next().expect("local part");
        assert!(codec.find_in(&format!("Return-Path: {local}\n")).is_some());
    }
}
