//! What ties replies to a message: the VERP return path (`bounces+<token>@<bounce
//! domain>`), so an asynchronous bounce or complaint names the message and recipient
//! it is about, and for bulk mail the one-click unsubscribe headers (RFC 8058).

use sluice_model::MessageId;
use sluice_wire::{UnsubscribeCodec, VerpCodec};

/// The recipient index that stands for "several recipients": the DSN names them.
pub const SEVERAL: u16 = u16::MAX;

#[derive(Clone, Debug)]
pub struct ReturnPaths {
    pub verp: VerpCodec,
    pub unsubscribe: UnsubscribeCodec,
    /// The API's public base URL, without a trailing slash.
    pub public_url: String,
}

impl ReturnPaths {
    /// The envelope sender for a transaction to the recipients at `indexes`.
    pub fn mail_from(&self, message: &MessageId, indexes: &[u16]) -> String {
        let index = match indexes {
            [one] => *one,
            _ => SEVERAL,
        };
        self.verp.encode(message, index)
    }

    /// `List-Unsubscribe` (an HTTPS one-click URL and a mailto) and
    /// `List-Unsubscribe-Post`, for recipient number `index` of a bulk message.
    pub fn unsubscribe_headers(&self, message: &MessageId, index: u16) -> Vec<(String, String)> {
        let token = self.unsubscribe.token(message, index);
        let value = format!(
            "<{}/v1/unsubscribe/{token}>, <mailto:bounces+unsubscribe-{token}@{}?subject=unsubscribe>",
            self.public_url,
            self.verp.bounce_domain()
        );
        vec![
            ("List-Unsubscribe".to_string(), value),
            (
                "List-Unsubscribe-Post".to_string(),
                "List-Unsubscribe=One-Click".to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_model::DomainName;

    #[test]
    fn return_paths_name_the_message_and_recipient() {
        let paths = ReturnPaths {
            verp: VerpCodec::new(
                b"key",
                DomainName::parse("bounces.example.net").expect("domain"),
            ),
            unsubscribe: UnsubscribeCodec::new(b"key"),
            public_url: "https://api.example.net".into(),
        };
        let id = MessageId::generate();
        let single = paths.mail_from(&id, &[2]);
        assert_eq!(
            paths.verp.decode(&single).map(|t| t.recipient_index),
            Some(2)
        );
        let several = paths.mail_from(&id, &[0, 1]);
        assert_eq!(
            paths.verp.decode(&several).map(|t| t.recipient_index),
            Some(SEVERAL)
        );
        let headers = paths.unsubscribe_headers(&id, 1);
        let token = paths.unsubscribe.token(&id, 1);
        assert_eq!(
            headers[0].1,
            format!(
                "<https://api.example.net/v1/unsubscribe/{token}>, <mailto:bounces+unsubscribe-{token}@bounces.example.net?subject=unsubscribe>"
            )
        );
        assert_eq!(headers[1].1, "List-Unsubscribe=One-Click");
    }
}
