//! The request bodies: one text and one HTML part of a chosen total size, built once;
//! only the recipient, the subject and the stream change per message.

use serde::Serialize;

use crate::cli::Stream;

const WORDS: &[&str] = &[
    "your",
    "order",
    "has",
    "shipped",
    "and",
    "will",
    "arrive",
    "soon",
    "track",
    "parcel",
    "account",
    "security",
    "code",
    "expires",
    "in",
    "ten",
    "minutes",
    "thanks",
    "for",
    "shopping",
    "with",
    "us",
    "receipt",
    "total",
    "invoice",
    "reset",
    "password",
    "link",
    "confirm",
    "address",
    "welcome",
    "team",
    "support",
    "reply",
    "questions",
    "today",
];

/// The parts shared by every message of a run.
#[derive(Debug)]
pub struct Payload {
    from: String,
    /// Each message's text and HTML start with a greeting naming its number.
    personalize: bool,
    text: String,
    html: String,
}

#[derive(Serialize)]
struct SendBody<'a> {
    from: &'a str,
    to: [&'a str; 1],
    subject: &'a str,
    text: &'a str,
    html: &'a str,
    stream: &'a str,
}

impl Payload {
    /// Text and HTML parts of about `size` bytes together (at least a few words each).
    pub fn new(from: &str, size: u64) -> Self {
        Self::with_personalization(from, size, false)
    }

    /// As [`new`](Self::new); `personalize`: see the field.
    pub fn with_personalization(from: &str, size: u64, personalize: bool) -> Self {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let text_size = size * 2 / 5;
        let text = filler(text_size, "\n");
        // The HTML part carries the same words plus markup, so it gets the rest.
        let html_words = filler(size.saturating_sub(text.len() + 60), "</p>\n<p>");
        let html = format!("<!doctype html>\n<html><body>\n<p>{html_words}</p>\n</body></html>\n");
        Self {
            from: from.to_owned(),
            personalize,
            text,
            html,
        }
    }

    /// Approximate size of the content (text + HTML), for the report.
    pub fn content_bytes(&self) -> usize {
        self.text.len() + self.html.len()
    }

    /// The JSON body of the `index`-th message.
    pub fn body(&self, index: u64, to: &str, stream: Stream) -> serde_json::Result<Vec<u8>> {
        let subject = format!("Load test message {index}");
        let (text, html) = if self.personalize {
            (
                format!("Dear customer {index},\n{}", self.text),
                self.html
                    .replacen("<p>", &format!("<p>Dear customer {index},</p>\n<p>"), 1),
            )
        } else {
            (self.text.clone(), self.html.clone())
        };
        serde_json::to_vec(&SendBody {
            from: &self.from,
            to: [to],
            subject: &subject,
            text: &text,
            html: &html,
            stream: stream.as_str(),
        })
    }
}

/// Words in lines of at most 72 characters, about `size` bytes in all; lines are
/// joined with `separator`.
fn filler(size: usize, separator: &str) -> String {
    let mut out = String::with_capacity(size + 80);
    let mut line = String::with_capacity(80);
    let mut i = 0usize;
    loop {
        let word = WORDS[(i * 7 + i / WORDS.len()) % WORDS.len()];
        i += 1;
        if !line.is_empty() && line.len() + 1 + word.len() > 72 {
            if !out.is_empty() {
                out.push_str(separator);
            }
            out.push_str(&line);
            line.clear();
            if out.len() >= size {
                break;
            }
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        if i > 8 && out.len() + line.len() >= size {
            if !out.is_empty() {
                out.push_str(separator);
            }
            out.push_str(&line);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_roughly_as_asked() {
        for size in [100u64, 3_000, 50_000] {
            let payload = Payload::new("a@b.test", size);
            let got = payload.content_bytes() as f64;
            let want = size as f64;
            assert!(
                (got - want).abs() <= want * 0.1 + 120.0,
                "asked {size}, got {got}"
            );
        }
    }

    #[test]
    fn body_is_valid_json() -> anyhow::Result<()> {
        let payload = Payload::new("Load <noreply@load.test>", 500);
        let body: serde_json::Value =
            serde_json::from_slice(&payload.body(7, "user7@example.com", Stream::Bulk)?)?;
        assert_eq!(body["to"][0], "user7@example.com");
        assert_eq!(body["stream"], "bulk");
        assert!(body["text"].as_str().is_some_and(|t| !t.is_empty()));
        Ok(())
    }
}
