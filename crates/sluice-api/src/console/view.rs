//! The templates (files under `templates/`, compiled in) and rendering. A page is its
//! own template rendered into `layout.html`; minijinja escapes every value in `.html`
//! templates, so nothing a tenant wrote (subjects, tags, SMTP replies) becomes markup.
//!
//! Rendering a page is a few microseconds of work on small values: it runs inline.

use std::sync::OnceLock;

use axum::response::Html;
use minijinja::Environment;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::ConsoleError;
use crate::problem::ApiError;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("messages.html", include_str!("templates/messages.html")),
    ("message.html", include_str!("templates/message.html")),
    ("api_keys.html", include_str!("templates/api_keys.html")),
    ("domains.html", include_str!("templates/domains.html")),
    ("domain.html", include_str!("templates/domain.html")),
    (
        "suppressions.html",
        include_str!("templates/suppressions.html"),
    ),
    ("delivery.html", include_str!("templates/delivery.html")),
    ("webhooks.html", include_str!("templates/webhooks.html")),
    ("webhook.html", include_str!("templates/webhook.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(error) = env.add_template(name, source) {
                // A unit test renders every template: this cannot ship.
                tracing::error!(%error, name, "a console template does not compile");
            }
        }
        env
    })
}

fn render_one(name: &str, context: &impl Serialize) -> Result<String, minijinja::Error> {
    env().get_template(name)?.render(context)
}

/// Page `name` with `context` (its `title` and, when logged in, `nav`), inside the
/// layout.
pub fn page(name: &str, context: &Value) -> Result<Html<String>, ConsoleError> {
    let content = render_one(name, context)
        .map_err(|e| ApiError::internal(format!("rendering {name}: {e:#}")))?;
    let layout = json!({
        "title": context.get("title"),
        "nav": context.get("nav"),
        "content": content,
    });
    render_one("layout.html", &layout)
        .map(Html)
        .map_err(|e| ApiError::internal(format!("rendering the layout: {e:#}")).into())
}

/// [`page`] for error pages: never fails (a page that cannot render is plain text).
pub fn render_plain(name: &str, context: &Value) -> Html<String> {
    page(name, context).unwrap_or_else(|_| {
        Html("<!doctype html><title>Sluice</title><p>Something went wrong.".to_string())
    })
}

/// A time as people read it in the console (UTC, to the second).
pub fn when(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// A wait as people read it: `—` for none, else seconds, minutes or hours.
pub fn wait(duration: std::time::Duration) -> String {
    match duration.as_secs() {
        0 if duration.is_zero() => "—".to_string(),
        0..60 => format!("{:.1} s", duration.as_secs_f64()),
        60..3600 => format!("{} min", duration.as_secs() / 60),
        secs => format!("{:.1} h", secs as f64 / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            env()
                .get_template(name)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn waits_read_in_the_unit_that_fits() {
        use std::time::Duration;
        assert_eq!(wait(Duration::ZERO), "—");
        assert_eq!(wait(Duration::from_millis(2_500)), "2.5 s");
        assert_eq!(wait(Duration::from_secs(125)), "2 min");
        assert_eq!(wait(Duration::from_secs(5_400)), "1.5 h");
    }

    #[test]
    fn values_are_escaped() {
        let html = page(
            "error.html",
            &json!({"title": "t", "status": 400, "detail": "<script>x</script>"}),
        )
        .unwrap()
        .0;
        assert!(!html.contains("<script>x"), "{html}");
        assert!(html.contains("&lt;script&gt;x"), "{html}");
    }
}
