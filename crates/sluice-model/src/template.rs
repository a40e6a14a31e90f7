//! Message templates: a subject and a text and/or HTML body written in Jinja syntax
//! (rendered with minijinja), stored per tenant in numbered versions, and rendered
//! with a send's `template_data` when the message is accepted — never later, so a
//! template that cannot render is a 422 to the sender, not a failure in the worker.
//!
//! Syntax is checked when a template is saved; what depends on the data (a missing
//! variable, a wrong type) can only be found at send time. [`render`] has the engine
//! settings and the limits that keep one template from monopolising a core.

mod render;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::ids::TemplateId;
use crate::validate::FieldError;

pub use render::{FUEL, RenderContext, RenderError, Rendered};

/// Longest template name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest subject template, in bytes. The rendered subject has its own limit (998
/// bytes, one header line); the template may be longer because of its tags.
/// What a rendered subject may be too (`SendMessageRequest::validate`): a longer
/// template could never be sent.
pub const MAX_SUBJECT_BYTES: usize = 998;
/// Largest text or HTML template, in bytes: generous for inline-styled HTML mail,
/// small enough that compiling one at every send stays well under a millisecond.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The body of `POST /v1/templates` and `PUT /v1/templates/{id}` (a PUT replaces the
/// whole template and makes a new version).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "sign-in code",
    "subject": "Your code is {{ code }}",
    "text": "Hello {{ user.name }},\n\nyour sign-in code is {{ code }}.",
    "html": "<p>Hello {{ user.name }},</p><p>your sign-in code is <b>{{ code }}</b>.</p>"
}))]
pub struct TemplateRequest {
    /// A label for people (1 to 200 characters); not unique, not versioned.
    #[serde(default)]
    #[schema(required = true)]
    pub name: String,
    /// Subject template, one line (at most 998 bytes). Required.
    #[serde(default)]
    #[schema(required = true)]
    pub subject: String,
    /// Plain-text body template. At least one of `text` and `html` is required (each
    /// at most 512 KiB). Values are inserted as they are.
    #[serde(default)]
    pub text: Option<String>,
    /// HTML body template. Values are HTML-escaped unless marked `|safe`.
    #[serde(default)]
    pub html: Option<String>,
}

/// The parts of one template version, as stored and rendered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateBody {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// A validated create or update: only obtainable through [`TemplateRequest::validate`],
/// so everything stored has compiled once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTemplate {
    pub name: String,
    pub body: TemplateBody,
}

/// One version of a template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub id: TemplateId,
    pub name: String,
    /// The version shown (1 for the first; each `PUT` adds one).
    #[schema(example = 2)]
    pub version: u32,
    /// The newest version. Only the last 50 versions are kept.
    #[schema(example = 2)]
    pub latest_version: u32,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// When the template (version 1) was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the version shown was saved.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Template {
    pub fn body(&self) -> TemplateBody {
        TemplateBody {
            subject: self.subject.clone(),
            text: self.text.clone(),
            html: self.html.clone(),
        }
    }
}

/// A template in a listing: its latest version's number, without the bodies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateSummary {
    pub id: TemplateId,
    pub name: String,
    #[schema(example = 2)]
    pub latest_version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the latest version was saved.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TemplateRequest {
    /// Checks every field, compiling each part, and reports one entry per bad field
    /// (a syntax error names its line).
    pub fn validate(self) -> Result<NewTemplate, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_string();
        // The limit counts what was sent, spaces around included (as the schema does).
        if name.is_empty()
            || self.name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters without control characters"),
            ));
        }

        if self.subject.trim().is_empty() {
            errors.push(FieldError::new("subject", "is required"));
        } else if self.subject.chars().any(|c| c.is_control() && c != '\t') {
            errors.push(FieldError::new(
                "subject",
                "must be one line, without CR, LF or other control characters",
            ));
        } else if self.subject.len() > MAX_SUBJECT_BYTES {
            errors.push(FieldError::new(
                "subject",
                format!("must be at most {MAX_SUBJECT_BYTES} bytes"),
            ));
        } else if let Err(message) = render::check_syntax("subject", &self.subject) {
            errors.push(FieldError::new("subject", message));
        }

        let text = self.text.filter(|t| !t.is_empty());
        let html = self.html.filter(|h| !h.is_empty());
        if text.is_none() && html.is_none() {
            errors.push(FieldError::new(
                "text",
                "a text or html template is required",
            ));
        }
        for (field, source) in [("text", &text), ("html", &html)] {
            let Some(source) = source else { continue };
            if source.len() > MAX_BODY_BYTES {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {MAX_BODY_BYTES} bytes"),
                ));
            } else if let Err(message) = render::check_syntax(field, source) {
                errors.push(FieldError::new(field, message));
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewTemplate {
            name,
            body: TemplateBody {
                subject: self.subject.trim().to_string(),
                text,
                html,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TemplateRequest {
        TemplateRequest {
            name: "welcome".into(),
            subject: "Hi {{ name }}".into(),
            text: Some("Hello {{ name }}".into()),
            html: None,
        }
    }

    fn fields(request: TemplateRequest) -> Vec<(String, String)> {
        match request.validate() {
            Err(errors) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
            Ok(ok) => panic!("expected errors, got {ok:?}"),
        }
    }

    #[test]
    fn a_valid_template_is_trimmed_and_kept() {
        let mut request = request();
        request.name = "  welcome ".into();
        request.html = Some(String::new());
        let template = request.validate().expect("valid");
        assert_eq!(template.name, "welcome");
        assert_eq!(template.body.html, None, "an empty part is no part");
    }

    #[test]
    fn every_bad_field_is_reported_once() {
        let bad = TemplateRequest {
            name: " ".into(),
            subject: String::new(),
            text: None,
            html: Some(String::new()),
        };
        let names: Vec<String> = fields(bad).into_iter().map(|(f, _)| f).collect();
        assert_eq!(names, ["name", "subject", "text"]);
    }

    #[test]
    fn a_syntax_error_names_the_field_and_the_line() {
        let mut request = request();
        request.html = Some("<p>ok</p>\n<p>{{ name }</p>\n".into());
        request.subject = "{% if x %}open".into();
        let errors = fields(request);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].0, "subject");
        assert!(errors[0].1.contains("line 1"), "{errors:?}");
        assert_eq!(errors[1].0, "html");
        assert!(
            errors[1].1.starts_with("syntax error on line 2"),
            "{errors:?}"
        );
    }

    #[test]
    fn subjects_are_one_line_and_parts_are_capped() {
        let mut request = request();
        request.subject = "Hi\r\nBcc: x@y.test".into();
        request.text = Some("x".repeat(MAX_BODY_BYTES + 1));
        let names: Vec<String> = fields(request).into_iter().map(|(f, _)| f).collect();
        assert_eq!(names, ["subject", "text"]);
    }
}
