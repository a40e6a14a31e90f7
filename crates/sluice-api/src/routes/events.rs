//! The tenant's event feed: every event of every message (and of its webhooks),
//! newest first, filtered and paged.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use sluice_model::{EventRecord, EventType, FieldError, MessageId, Scope};
use sluice_store::EventFilter;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::ApiKeyAuth;
use crate::paging;
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;
use crate::routes::webhooks::{check_cursor, event_type_names};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// `GET /v1/events` query parameters, taken as text and checked here so that a bad
/// value is a problem document naming the parameter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only these event types, comma-separated, e.g. `message.bounced,message.complained`
    /// (empty: every type).
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<Vec<EventType>>, style = Form, explode = false)]
    kind: Option<String>,
    /// Only events about this recipient (case-insensitive).
    recipient: Option<String>,
    /// Only events of messages with this tag.
    tag: Option<String>,
    /// Only events of this message.
    message_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Only events at or before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    /// Newest first.
    pub events: Vec<EventRecord>,
    /// Pass as `cursor` for the next (older) page; absent on the last page. A page
    /// can be short (even empty) with a cursor when filters skip many events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The tenant's events, newest first: the same records webhooks carry, with their
/// stable `evt_…` ids. Kept for the retention period.
#[utoipa::path(get, path = "/v1/events", tag = "events", security(("api_key" = ["read"])),
    params(EventParams),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 422, description = "Invalid query parameters (an unknown `type`, a time that is not RFC 3339, …)", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn list_events(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    params: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    auth.require(Scope::Read)?;
    let Query(params) = params.map_err(|e| ApiError::field("query", e.body_text()))?;
    let mut errors = Vec::new();
    let mut types = Vec::new();
    // `type=` (an empty list) is every type; otherwise each name exactly.
    let names = params.kind.iter().filter(|k| !k.is_empty());
    for name in names.flat_map(|k| k.split(',')) {
        match EventType::parse(name) {
            Some(kind) => types.push(kind),
            None => errors.push(FieldError::new(
                "type",
                format!("unknown event type `{name}`; one of {}", event_type_names()),
            )),
        }
    }
    // An empty `message_id=` is no filter, as for `recipient` and `tag`.
    let message_id = params
        .message_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .and_then(|id| {
            let parsed = MessageId::parse(id).ok();
            if parsed.is_none() {
                errors.push(FieldError::new("message_id", "is not a message id (msg_…)"));
            }
            parsed
        });
    let mut time = |name: &str, value: Option<&str>| {
        let value = value?;
        let parsed = OffsetDateTime::parse(value.trim(), &Rfc3339).ok();
        if parsed.is_none() {
            errors.push(FieldError::new(
                name,
                "must be an RFC 3339 time, e.g. 2026-11-22T18:00:00Z",
            ));
        }
        parsed
    };
    let since = time("since", params.since.as_deref());
    let until = time("until", params.until.as_deref());
    let cursor = check_cursor(params.cursor.as_deref(), &mut errors);
    let limit = paging::limit(params.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let filter = EventFilter {
        types,
        recipient: params.recipient.filter(|r| !r.trim().is_empty()),
        tag: params.tag.filter(|t| !t.is_empty()),
        message_id,
        since,
        until,
    };
    // `until` before `since` is a window with nothing in it.
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Ok(Json(EventList {
            events: Vec::new(),
            next_cursor: None,
        }));
    }
    let page = state
        .store
        .list_events(&auth.0.tenant_id, &filter, cursor, limit)
        .await?;
    Ok(Json(EventList {
        events: page.events,
        next_cursor: page.next_cursor,
    }))
}
