//! Sending with a template: before a send request is validated, its `template_id`
//! is looked up in the tenant's templates and rendered with `template_data` into the
//! request's `subject`, `text` and `html`. Every way that can fail is a 422 (or a 413
//! over the size limit) at accept time, so the worker only ever sees finished mail.

use std::sync::LazyLock;

use sluice_model::{
    FieldError, RenderError, Rendered, SendMessageRequest, TemplateBody, TemplateId, TenantId,
    ValidationFailure,
};
use sluice_store::TemplateLookup;
use sluice_store::templates::VERSIONS_KEPT;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::AppState;
use crate::problem::ApiError;
use crate::routes::messages::Lookups;

/// Renders running at once, one per core: rendering is CPU work, so more would only
/// queue on the blocking pool while taking memory; each is capped by its fuel.
static RENDER_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
});

/// Fills `subject`, `text` and `html` from the request's template, if it names one,
/// and clears the template fields; a request without `template_id` passes unchanged
/// (validation then refuses a stray `template_version` or `template_data`).
pub(crate) async fn render_template(
    state: &AppState,
    tenant: &TenantId,
    mut request: SendMessageRequest,
    now: OffsetDateTime,
    lookups: &mut Lookups,
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
        Ok(id) if errors.is_empty() => {
            load(state, tenant, &id, version, &mut errors, lookups).await?
        }
        Ok(_) => None,
    };
    let rendered = match body {
        Some(body) if errors.is_empty() => {
            let limit = state.settings.limits.max_message_bytes;
            match render(body, data, limit).await? {
                Ok(rendered) => Some(rendered),
                Err(RenderError::TooLarge {
                    rendered_bytes,
                    limit_bytes,
                }) => {
                    return Err(ApiError::TooLarge {
                        estimated_bytes: rendered_bytes,
                        limit_bytes,
                    });
                }
                Err(RenderError::Data(message)) => {
                    errors.push(FieldError::new("template_data", message));
                    None
                }
                Err(RenderError::Template(message)) => {
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

/// The template version to render, or `None` with the reason in `errors`. Another
/// tenant's id is simply not among this tenant's templates.
async fn load(
    state: &AppState,
    tenant: &TenantId,
    id: &TemplateId,
    version: Option<u32>,
    errors: &mut Vec<FieldError>,
    lookups: &mut Lookups,
) -> Result<Option<TemplateBody>, ApiError> {
    let cache_key = (id.clone(), version);
    let found = match lookups.templates.get(&cache_key) {
        Some(found) => found.clone(),
        None => {
            let found = state.store.templates().get(tenant, id, version).await?;
            lookups.templates.insert(cache_key, found.clone());
            found
        }
    };
    match found {
        TemplateLookup::Found(template) => Ok(Some(template.body())),
        TemplateLookup::NoTemplate => {
            errors.push(FieldError::new("template_id", format!("no template {id}")));
            Ok(None)
        }
        TemplateLookup::NoVersion { latest } => {
            errors.push(FieldError::new(
                "template_version",
                format!(
                    "template {id} has no version {} (the latest is {latest}; the last {VERSIONS_KEPT} are kept)",
                    version.unwrap_or(latest)
                ),
            ));
            Ok(None)
        }
    }
}

/// Renders off the async reactor, at most one render per core at a time.
async fn render(
    body: TemplateBody,
    data: serde_json::Map<String, serde_json::Value>,
    limit: usize,
) -> Result<Result<Rendered, RenderError>, ApiError> {
    let _slot = RENDER_SLOTS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(format!("render slots closed: {e}")))?;
    tokio::task::spawn_blocking(move || body.render(&data, limit))
        .await
        .map_err(|e| ApiError::Internal(format!("template render task failed: {e}")))
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
