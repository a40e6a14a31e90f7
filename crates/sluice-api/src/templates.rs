//! Sending with a template: before a send request is validated, its `template_id`
//! is looked up in the tenant's templates and rendered with `template_data` into the
//! request's `subject`, `text` and `html`. Every way that can fail is a 422 (or a 413
//! over the size limit) at accept time, so the worker only ever sees finished mail.
//!
//! Rendering never happens in this process: the template sandbox
//! (`sluice_template_sandbox`) renders in child processes capped in memory and time,
//! and a template that passes either cap is a 422 naming `template_id`.

use sluice_model::{
    FieldError, RenderError, Rendered, SendMessageRequest, TemplateBody, TemplateId, TenantId,
    ValidationFailure,
};
use sluice_store::TemplateLookup;
use sluice_store::templates::VERSIONS_KEPT;
use sluice_template_sandbox::SandboxError;
use time::OffsetDateTime;

use std::collections::HashMap;

use crate::AppState;
use crate::problem::ApiError;

/// The template versions one request has read already (a batch of 500 messages with
/// one template reads it once), by id and requested version.
pub(crate) type TemplateCache = HashMap<(TemplateId, Option<u32>), TemplateLookup>;

/// Fills `subject`, `text` and `html` from the request's template, if it names one,
/// and clears the template fields; a request without `template_id` passes unchanged
/// (validation then refuses a stray `template_version` or `template_data`).
pub(crate) async fn render_template(
    state: &AppState,
    tenant: &TenantId,
    mut request: SendMessageRequest,
    now: OffsetDateTime,
    cache: &mut TemplateCache,
) -> Result<SendMessageRequest, ApiError> {
    let Some(raw_id) = request.template_id.take() else {
        return Ok(request);
    };
    let version = request.template_version.take();
    let data = request.template_data.take().unwrap_or_default();
    let mut errors = Vec::new();
    let supplied = "must be absent with template_id: the template supplies it";
    if !request.subject.is_empty() {
        errors.push(FieldError::new("subject", supplied));
    }
    if request.text.is_some() {
        errors.push(FieldError::new("text", supplied));
    }
    if request.html.is_some() {
        errors.push(FieldError::new("html", supplied));
    }
    if version == Some(0) {
        errors.push(FieldError::new("template_version", "versions start at 1"));
    }
    let body = match TemplateId::parse(raw_id.trim()) {
        Err(_) => {
            errors.push(FieldError::new(
                "template_id",
                format!("no template {raw_id} (template ids look like tpl_…)"),
            ));
            None
        }
        Ok(id) if errors.is_empty() => match load(state, tenant, &id, version, cache).await? {
            Ok(body) => Some((id, body)),
            // Naming a template (or version) that does not exist is a 404, unless
            // the request has other faults to report with it.
            Err(missing) => {
                let others = other_errors(request, state, now);
                if others.is_empty() {
                    return Err(ApiError::UnknownReference(missing));
                }
                errors.push(missing);
                errors.extend(others);
                return Err(ApiError::Validation(errors));
            }
        },
        Ok(_) => None,
    };
    let rendered = match body {
        Some((id, body)) if errors.is_empty() => {
            let limit = state.settings.limits.max_message_bytes;
            match render(state, &id, &body, &data, limit).await? {
                Outcome::Rendered(rendered) => Some(rendered),
                Outcome::Refused(refusal) => {
                    errors.push(FieldError::new("template_id", refusal.to_string()));
                    None
                }
                Outcome::Failed(RenderError::TooLarge {
                    rendered_bytes,
                    limit_bytes,
                }) => {
                    return Err(ApiError::TooLarge {
                        estimated_bytes: rendered_bytes,
                        limit_bytes,
                    });
                }
                Outcome::Failed(RenderError::Data(message)) => {
                    errors.push(FieldError::new("template_data", message));
                    None
                }
                Outcome::Failed(RenderError::Template(message)) => {
                    errors.push(FieldError::new(
                        "template_id",
                        format!("the template cannot render: {message}"),
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    match rendered {
        Some(Rendered {
            subject,
            text,
            html,
        }) => {
            request.subject = subject;
            request.text = text;
            request.html = html;
            Ok(request)
        }
        None => {
            errors.extend(other_errors(request, state, now));
            Err(ApiError::Validation(errors))
        }
    }
}

/// The template version to render, or the field naming what does not exist. Another
/// tenant's id is simply not among this tenant's templates.
async fn load(
    state: &AppState,
    tenant: &TenantId,
    id: &TemplateId,
    version: Option<u32>,
    cache: &mut TemplateCache,
) -> Result<Result<TemplateBody, FieldError>, ApiError> {
    let cache_key = (id.clone(), version);
    let found = match cache.get(&cache_key) {
        Some(found) => found.clone(),
        None => {
            let found = state.store.get_template(tenant, id, version).await?;
            cache.insert(cache_key, found.clone());
            found
        }
    };
    Ok(match found {
        TemplateLookup::Found(template) => Ok(template.body()),
        TemplateLookup::NoTemplate => {
            Err(FieldError::new("template_id", format!("no template {id}")))
        }
        TemplateLookup::NoVersion { latest } => Err(FieldError::new(
            "template_version",
            format!(
                "template {id} has no version {} (the latest is {latest}; the last {VERSIONS_KEPT} are kept)",
                version.unwrap_or(latest)
            ),
        )),
    })
}

/// How a render ended, as far as the sender is concerned.
enum Outcome {
    Rendered(Rendered),
    /// The template does not render with this data (the engine's verdict).
    Failed(RenderError),
    /// The sandbox stopped the render: past the memory or time cap, or a crash.
    Refused(SandboxError),
}

/// Renders in the sandbox. A sandbox that cannot run at all is our fault (500).
async fn render(
    state: &AppState,
    id: &TemplateId,
    body: &TemplateBody,
    data: &serde_json::Map<String, serde_json::Value>,
    limit: usize,
) -> Result<Outcome, ApiError> {
    match state.settings.templates.render(body, data, limit).await {
        Ok(Ok(rendered)) => Ok(Outcome::Rendered(rendered)),
        Ok(Err(error)) => Ok(Outcome::Failed(error)),
        Err(error) if error.is_template_fault() => {
            tracing::warn!(template_id = %id, %error, "template refused by the sandbox");
            metrics::counter!("sluice_template_sandbox_refusals_total", "reason" => reason(&error))
                .increment(1);
            Ok(Outcome::Refused(error))
        }
        Err(error) => Err(ApiError::internal(error)),
    }
}

fn reason(error: &SandboxError) -> &'static str {
    match error {
        SandboxError::MemoryLimit { .. } => "memory",
        SandboxError::TimedOut { .. } => "time",
        SandboxError::Crashed { .. } => "crash",
        SandboxError::Unavailable(_) => "unavailable",
    }
}

/// When the template part fails, the other fields' errors too, so the client can
/// fix everything in one round: the request is validated with stand-ins for what the
/// template would have supplied.
fn other_errors(
    mut request: SendMessageRequest,
    state: &AppState,
    now: OffsetDateTime,
) -> Vec<FieldError> {
    request.subject = "-".into();
    request.text = Some("-".into());
    request.html = None;
    match request.validate(&state.settings.limits, now) {
        Err(ValidationFailure::Invalid(errors)) => errors,
        _ => Vec::new(),
    }
}
