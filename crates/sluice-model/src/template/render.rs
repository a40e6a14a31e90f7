//! The template engine: one shared minijinja environment and the limits that keep a
//! template (written by a tenant) from harming the process that renders it.
//!
//! - HTML is auto-escaped: the part named `html` escapes every value unless the
//!   template marks it `|safe`; `subject` and `text` insert values as they are.
//! - Undefined is strict: a variable missing from `template_data` is an error, never
//!   an empty string (`{% if x is defined %}` and `x|default(…)` still work).
//! - CPU: every render has [`FUEL`] instructions and a recursion limit; a template
//!   that loops past them fails instead of spinning a core.
//! - Size: output is written through a capped writer, so the render stops as soon
//!   as text + HTML pass the message size limit instead of building a huge string;
//!   its buffer never reserves past that limit either.
//! - No loader, macros or includes: a template is exactly its own string.
//!
//! Not bounded here: the memory a render uses for the values it builds before writing
//! them (`"x" * 100000000`, `s ~ s` doubling, `[a, a]` nesting printed with `~`),
//! nor the time of one such instruction. Fuel counts steps, not bytes, and
//! minijinja has no memory limit, so the API never calls [`TemplateBody::render`] in
//! its own process: it renders in the `sluice-template-sandbox` child processes,
//! whose data segment is capped per render.

use std::io;
use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, ErrorKind, Template, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::TemplateBody;

/// Instructions one part of a template may run per render: a loop over a few
/// thousand items is fine, and the worst case stays around a millisecond.
pub const FUEL: u64 = 100_000;
/// Nesting depth of loops, conditions and calls.
const RECURSION_LIMIT: usize = 64;
/// One header line (RFC 5322 §2.1.1).
const MAX_RENDERED_SUBJECT: usize = 998;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env
});

/// A template's parts with the data filled in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RenderError {
    /// The data does not fit the template: a missing variable, a value of the wrong
    /// type, a loop too long for the fuel, a subject with a line break.
    #[error("{0}")]
    Data(String),
    /// The template itself cannot run (an unknown filter or function): no data
    /// would help, so it is the template's fault.
    #[error("{0}")]
    Template(String),
    /// Text and HTML together passed `limit_bytes`; the render stopped there.
    #[error(
        "the rendered message is at least {rendered_bytes} bytes, over the {limit_bytes} byte limit"
    )]
    TooLarge {
        rendered_bytes: usize,
        limit_bytes: usize,
    },
}

/// Compiles `source` as the part `part`; the error names its line.
pub(super) fn check_syntax(part: &str, source: &str) -> Result<(), String> {
    let env: &Environment<'_> = &ENV;
    env.template_from_named_str(part, source)
        .map(|_| ())
        .map_err(|e| {
            let line = e
                .line()
                .map(|l| format!(" on line {l}"))
                .unwrap_or_default();
            match e.detail() {
                Some(detail) => format!("{}{line}: {detail}", e.kind()),
                None => format!("{}{line}", e.kind()),
            }
        })
}

/// `template_data` converted to the engine's values once, before the render: a
/// sandbox caps the render's memory after this, so the limit measures what the
/// template builds, not how large the sender's data is.
pub struct RenderContext<'a> {
    data: &'a Map<String, Json>,
    value: Value,
}

impl<'a> RenderContext<'a> {
    pub fn new(data: &'a Map<String, Json>) -> Self {
        Self {
            data,
            value: Value::from_serialize(data),
        }
    }
}

impl TemplateBody {
    /// Renders every part with `data`. `max_bytes` caps text and HTML together (the
    /// message size limit); the subject must fit one header line.
    pub fn render(
        &self,
        data: &Map<String, Json>,
        max_bytes: usize,
    ) -> Result<Rendered, RenderError> {
        self.render_with(&RenderContext::new(data), max_bytes)
    }

    /// [`render`](Self::render) with the data already converted.
    pub fn render_with(
        &self,
        context: &RenderContext<'_>,
        max_bytes: usize,
    ) -> Result<Rendered, RenderError> {
        let RenderContext {
            data,
            value: context,
        } = context;
        let subject = match render_part(
            "subject",
            &self.subject,
            context,
            data,
            MAX_RENDERED_SUBJECT,
        ) {
            Err(RenderError::TooLarge { .. }) => {
                return Err(RenderError::Data(format!(
                    "subject: renders longer than {MAX_RENDERED_SUBJECT} bytes"
                )));
            }
            other => other?,
        };
        let subject = subject.trim().to_string();
        if subject.is_empty() {
            return Err(RenderError::Data("subject: renders empty".into()));
        }
        if subject.chars().any(|c| c.is_control() && c != '\t') {
            return Err(RenderError::Data(
                "subject: renders a line break or another control character".into(),
            ));
        }

        let mut used = 0;
        let mut part = |name: &str,
                        source: &Option<String>|
         -> Result<Option<String>, RenderError> {
            let Some(source) = source else {
                return Ok(None);
            };
            let budget = max_bytes.saturating_sub(used);
            let out = render_part(name, source, context, data, budget).map_err(|e| match e {
                RenderError::TooLarge { rendered_bytes, .. } => RenderError::TooLarge {
                    rendered_bytes: used + rendered_bytes,
                    limit_bytes: max_bytes,
                },
                other => other,
            })?;
            used += out.len();
            Ok(Some(out).filter(|o| !o.is_empty()))
        };
        let text = part("text", &self.text)?;
        let html = part("html", &self.html)?;
        if text.is_none() && html.is_none() {
            return Err(RenderError::Data(
                "the template renders neither text nor html: the body is empty".into(),
            ));
        }
        Ok(Rendered {
            subject,
            text,
            html,
        })
    }
}

fn render_part(
    part: &str,
    source: &str,
    context: &Value,
    data: &Map<String, Json>,
    limit: usize,
) -> Result<String, RenderError> {
    let env: &Environment<'_> = &ENV;
    // Stored templates compiled when saved; failing now means the engine changed.
    let template = env
        .template_from_named_str(part, source)
        .map_err(|e| RenderError::Template(format!("{part}: {e}")))?;
    let mut out = Capped {
        out: Vec::new(),
        limit,
        overflow: None,
    };
    match template.render_captured_to(context, &mut out) {
        Ok(_) => String::from_utf8(out.out)
            .map_err(|_| RenderError::Data(format!("{part}: renders invalid UTF-8"))),
        Err(_) if out.overflow.is_some() => Err(RenderError::TooLarge {
            rendered_bytes: out.overflow.unwrap_or(limit),
            limit_bytes: limit,
        }),
        Err(error) => Err(describe(part, &template, &error, data)),
    }
}

fn describe(
    part: &str,
    template: &Template<'_, '_>,
    error: &minijinja::Error,
    data: &Map<String, Json>,
) -> RenderError {
    let line = error
        .line()
        .map(|l| format!(" line {l}"))
        .unwrap_or_default();
    let what = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    match error.kind() {
        ErrorKind::UndefinedError => {
            let missing = missing_variables(template, data);
            let names = if missing.is_empty() {
                String::new()
            } else {
                format!(" (template_data has no {})", missing.join(", "))
            };
            RenderError::Data(format!("{part}{line}: undefined value{names}"))
        }
        ErrorKind::OutOfFuel => RenderError::Data(format!(
            "{part}{line}: the template ran out of fuel ({FUEL} steps) with this data"
        )),
        ErrorKind::UnknownFilter
        | ErrorKind::UnknownTest
        | ErrorKind::UnknownFunction
        | ErrorKind::UnknownMethod
        | ErrorKind::TemplateNotFound
        | ErrorKind::SyntaxError => RenderError::Template(format!("{part}{line}: {what}")),
        _ => RenderError::Data(format!("{part}{line}: {what}")),
    }
}

/// The variables (dotted paths, backquoted) the template uses that `data` lacks, so
/// an undefined-value error can say which. Loop variables are not known here.
fn missing_variables(template: &Template<'_, '_>, data: &Map<String, Json>) -> Vec<String> {
    let mut missing: Vec<String> = template
        .undeclared_variables(true)
        .into_iter()
        .filter_map(|path| {
            let mut segments = path.split('.');
            let first = segments.next()?;
            if ENV.globals().any(|(name, _)| name == first) {
                return None;
            }
            let mut value = data.get(first);
            let mut found = vec![first];
            for segment in segments {
                match value {
                    // The missing part is the path so far.
                    None => break,
                    Some(Json::Object(map)) => {
                        found.push(segment);
                        value = map.get(segment);
                    }
                    // An attribute of a list or a string: not a template_data key.
                    Some(_) => return None,
                }
            }
            value.is_none().then(|| format!("`{}`", found.join(".")))
        })
        .collect();
    missing.sort();
    missing.dedup();
    missing.truncate(5);
    missing
}

/// Output that refuses to grow past `limit`; `overflow` records how far it tried.
struct Capped {
    out: Vec<u8>,
    limit: usize,
    overflow: Option<usize>,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let total = self.out.len().saturating_add(buf.len());
        if total > self.limit {
            self.overflow = Some(total);
            return Err(io::Error::other("rendered output over the size limit"));
        }
        if total > self.out.capacity() {
            // Doubling, but never past the limit: the buffer is part of what a
            // sandboxed render may allocate.
            let target = total
                .max(self.out.capacity().saturating_mul(2))
                .min(self.limit);
            self.out.reserve_exact(target - self.out.len());
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(subject: &str, text: Option<&str>, html: Option<&str>) -> TemplateBody {
        TemplateBody {
            subject: subject.into(),
            text: text.map(str::to_string),
            html: html.map(str::to_string),
        }
    }

    fn data(value: Json) -> Map<String, Json> {
        match value {
            Json::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn data_error(result: Result<Rendered, RenderError>) -> String {
        match result {
            Err(RenderError::Data(message)) => message,
            other => panic!("expected a data error, got {other:?}"),
        }
    }

    #[test]
    fn html_is_escaped_text_and_subject_are_not() {
        let template = body(
            "Hi {{ name }}",
            Some("Hello {{ name }}"),
            Some("<p>Hello {{ name }}</p>{{ name|safe }}"),
        );
        let rendered = template
            .render(&data(json!({"name": "<script>&"})), 10_000)
            .expect("renders");
        assert_eq!(rendered.subject, "Hi <script>&");
        assert_eq!(rendered.text.as_deref(), Some("Hello <script>&"));
        assert_eq!(
            rendered.html.as_deref(),
            Some("<p>Hello &lt;script&gt;&amp;</p><script>&")
        );
    }

    #[test]
    fn loops_conditions_and_filters_work() {
        let template = body(
            "{{ items|length }} items",
            Some(
                "{% for i in items %}{{ loop.index }}. {{ i.name|upper }} {{ i.price }}\n{% endfor %}{% if vip is defined %}VIP{% endif %}{{ note|default('-') }}",
            ),
            None,
        );
        let rendered = template
            .render(
                &data(
                    json!({"items": [{"name": "tea", "price": 3}, {"name": "cake", "price": 4.5}]}),
                ),
                10_000,
            )
            .expect("renders");
        assert_eq!(rendered.subject, "2 items");
        assert_eq!(rendered.text.as_deref(), Some("1. TEA 3\n2. CAKE 4.5\n-"));
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_it() {
        let template = body(
            "Hi",
            Some("line one\nHello {{ user.first }} {{ user.last }}"),
            None,
        );
        let message = data_error(template.render(&data(json!({"user": {"first": "A"}})), 10_000));
        assert!(
            message.starts_with("text line 2: undefined value"),
            "{message}"
        );
        assert!(message.contains("`user.last`"), "{message}");
        assert!(!message.contains("user.first"), "{message}");

        let message = data_error(body("Hi {{ who }}", Some("x"), None).render(&Map::new(), 100));
        assert!(message.contains("`who`"), "{message}");

        let message = data_error(template.render(&Map::new(), 10_000));
        assert!(
            message.contains("(template_data has no `user`)"),
            "{message}"
        );
    }

    #[test]
    fn the_subject_must_render_one_non_empty_line() {
        let template = body("{{ s }}", Some("x"), None);
        for (value, expected) in [
            (json!("a\r\nBcc: evil@example.com"), "line break"),
            (json!("  "), "renders empty"),
            (json!("x".repeat(999)), "longer than 998"),
        ] {
            let message = data_error(template.render(&data(json!({"s": value})), 10_000));
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn an_empty_body_is_an_error() {
        let template = body("Hi", Some("{% if x %}{{ x }}{% endif %}"), None);
        let message = data_error(template.render(&data(json!({"x": ""})), 10_000));
        assert!(message.contains("body is empty"), "{message}");
    }

    #[test]
    fn output_stops_at_the_size_limit() {
        let template = body(
            "Hi",
            Some("{{ chunk }}"),
            Some("{% for i in range(1000) %}{{ chunk }}{% endfor %}"),
        );
        let result = template.render(&data(json!({"chunk": "x".repeat(1000)})), 50_000);
        match result {
            Err(RenderError::TooLarge {
                rendered_bytes,
                limit_bytes,
            }) => {
                assert_eq!(limit_bytes, 50_000);
                assert!(rendered_bytes > 50_000, "{rendered_bytes}");
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn endless_work_runs_out_of_fuel() {
        let template = body(
            "Hi",
            Some(
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            ),
            None,
        );
        let message = data_error(template.render(&Map::new(), 10_000));
        assert!(message.contains("ran out of fuel"), "{message}");
    }

    #[test]
    fn unknown_filters_are_the_templates_fault() {
        let template = body("Hi", Some("{{ x|no_such_filter }}"), None);
        assert!(matches!(
            template.render(&data(json!({"x": 1})), 10_000),
            Err(RenderError::Template(_))
        ));
    }

    #[test]
    fn includes_and_macros_do_not_compile() {
        for source in ["{% include 'other' %}", "{% macro m() %}{% endmacro %}"] {
            assert!(check_syntax("text", source).is_err(), "{source}");
        }
    }
}
