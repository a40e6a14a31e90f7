//! What goes over the child's stdin and stdout: one JSON document per line each way
//! (JSON strings escape line breaks, so a line is always one whole message). The
//! parent is the only writer, so the child trusts the shape of what it reads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use sluice_model::{RenderError, Rendered, TemplateBody};

/// The name of the `sluice` subcommand that runs [`crate::serve_child`].
pub const SUBCOMMAND: &str = "render-sandbox";

/// A render request as the parent writes it (borrowing, so nothing is copied first).
#[derive(Serialize)]
pub(crate) struct RequestOut<'a> {
    pub body: &'a TemplateBody,
    pub data: &'a Map<String, Json>,
    pub max_bytes: usize,
}

/// A render request as the child reads it.
#[derive(Deserialize)]
pub(crate) struct RequestIn {
    pub body: TemplateBody,
    pub data: Map<String, Json>,
    pub max_bytes: usize,
}

/// The child's answer to one request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reply {
    pub result: Result<Rendered, RenderError>,
    /// The child exits after this reply (it has grown and sheds the memory by
    /// ending), so the parent must not send it another request.
    #[serde(default)]
    pub retire: bool,
}

/// One request as a line of bytes.
pub(crate) fn encode_request(
    body: &TemplateBody,
    data: &Map<String, Json>,
    max_bytes: usize,
) -> serde_json::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(&RequestOut {
        body,
        data,
        max_bytes,
    })?;
    line.push(b'\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_is_one_line_and_reads_back() {
        let body = TemplateBody {
            subject: "Hi\n{{ name }}".into(),
            text: Some("line one\r\nline two".into()),
            html: None,
        };
        let data = match json!({"name": "a\nb"}) {
            Json::Object(map) => map,
            _ => unreachable!(),
        };
        let line = encode_request(&body, &data, 1000).unwrap();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let back: RequestIn = serde_json::from_slice(&line).unwrap();
        assert_eq!(back.body, body);
        assert_eq!(back.data, data);
        assert_eq!(back.max_bytes, 1000);
    }

    #[test]
    fn replies_keep_every_render_error() {
        for result in [
            Err(RenderError::Data("x".into())),
            Err(RenderError::TooLarge {
                rendered_bytes: 5,
                limit_bytes: 4,
            }),
            Ok(Rendered {
                subject: "s".into(),
                text: None,
                html: Some("<p>".into()),
            }),
        ] {
            let reply = Reply {
                result: result.clone(),
                retire: false,
            };
            let text = serde_json::to_string(&reply).unwrap();
            assert!(!text.contains('\n'));
            let back: Reply = serde_json::from_str(&text).unwrap();
            assert_eq!(back.result, result);
        }
    }
}
