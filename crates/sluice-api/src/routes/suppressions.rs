//! The tenant's suppression list: addresses Sluice will not send to. Hard bounces,
//! complaints and unsubscribes add to it by themselves; these routes read it and
//! let the tenant add and remove addresses.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_model::{EmailAddress, FieldError, Scope, Suppression, SuppressionReason, TenantId};
use sluice_store::{NewSuppression, SuppressionAdded, SuppressionCursor};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiKeyAuth, JsonBody, PathId, PathResource};
use crate::problem::{ApiError, Problem};
use crate::routes::CommonErrors;
use crate::{AppState, paging};

/// Addresses one request may add.
const MAX_ADDRESSES: usize = 1000;
const MAX_NOTE_CHARS: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_suppressions, add_suppressions))
        .routes(routes!(get_suppression, delete_suppression))
}

/// `GET /v1/suppressions` query parameters. Taken as text and checked here, so a bad
/// value is a problem document naming the parameter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Entries per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Only entries with this reason.
    #[param(value_type = Option<SuppressionReason>)]
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SuppressionList {
    /// Newest first.
    pub suppressions: Vec<Suppression>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Either one `address` (with an optional `note`) or up to 1000 `addresses`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"address": "jane@example.com", "note": "asked by phone"}))]
pub struct AddSuppressionsRequest {
    #[schema(example = "jane@example.com")]
    pub address: Option<String>,
    /// Up to 1000 addresses, all added with the same `note` (with `address`, both
    /// are added).
    pub addresses: Option<Vec<String>>,
    /// Free text kept with the entries (at most 1000 characters).
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AddedSuppression {
    /// `false` when the address was already on the list: the entry shown is the one
    /// that was there (its first reason is kept).
    pub added: bool,
    #[serde(flatten)]
    pub suppression: Suppression,
}

#[derive(Serialize, ToSchema)]
pub struct AddedSuppressions {
    /// One per address given, in order.
    pub suppressions: Vec<AddedSuppression>,
}

/// List the suppression list, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/suppressions", tag = "suppressions", security(("api_key" = ["read"])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of the list", body = SuppressionList),
        (status = 422, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn list_suppressions(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SuppressionList>, ApiError> {
    auth.require(Scope::Read)?;
    let Query(params) = params.map_err(|e| ApiError::field("query", e.body_text()))?;
    let mut errors = Vec::new();
    let cursor = paging::cursor(
        params.cursor.as_deref(),
        SuppressionCursor::parse,
        &mut errors,
    );
    let limit = paging::limit(params.limit.as_deref(), &mut errors);
    let reason = params.reason.as_deref().and_then(|text| {
        let reason = SuppressionReason::parse(text);
        if reason.is_none() {
            errors.push(FieldError::new(
                "reason",
                "must be one of hard-bounce, complaint, unsubscribe, manual",
            ));
        }
        reason
    });
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = state
        .store
        .list_suppressions(&auth.0.tenant_id, cursor.as_ref(), limit, reason)
        .await?;
    Ok(Json(SuppressionList {
        suppressions: page.entries,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

/// Add addresses to the suppression list. An address already on it keeps its entry
/// (and reason): adding is safe to repeat.
#[utoipa::path(post, path = "/v1/suppressions", tag = "suppressions", security(("api_key" = ["admin"])),
    request_body = AddSuppressionsRequest,
    responses(
        (status = 201, description = "At least one address was added", body = AddedSuppressions),
        (status = 200, description = "Every address was already on the list", body = AddedSuppressions),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, one entry per field (`addresses[3]`, …)", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn add_suppressions(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    body: JsonBody<AddSuppressionsRequest>,
) -> Result<(StatusCode, Json<AddedSuppressions>), ApiError> {
    auth.require(Scope::Admin)?;
    let added = add(&state, &auth.0.tenant_id, body.value).await?;
    let status = if added.iter().any(|a| a.added) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let suppressions = added
        .into_iter()
        .map(|a| AddedSuppression {
            added: a.added,
            suppression: a.entry,
        })
        .collect();
    Ok((status, Json(AddedSuppressions { suppressions })))
}

/// Adds the request's addresses by hand (the JSON route and the console's form).
pub(crate) async fn add(
    state: &AppState,
    tenant: &TenantId,
    request: AddSuppressionsRequest,
) -> Result<Vec<SuppressionAdded>, ApiError> {
    let (addresses, note) = validate(request)?;
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    Ok(state
        .store
        .add_suppressions(tenant, &refs, &NewSuppression::manual(note))
        .await?)
}

/// The addresses (parsed) and the note of an add request, or every invalid field.
fn validate(request: AddSuppressionsRequest) -> Result<(Vec<String>, Option<String>), ApiError> {
    let mut errors = Vec::new();
    let given: Vec<(String, String)> = match (request.address, request.addresses) {
        (Some(address), None) => vec![("address".into(), address)],
        (None, Some(addresses)) => {
            if addresses.is_empty() {
                errors.push(FieldError::new("addresses", "must not be empty"));
            } else if addresses.len() > MAX_ADDRESSES {
                errors.push(FieldError::new(
                    "addresses",
                    format!("at most {MAX_ADDRESSES} addresses per request"),
                ));
            }
            addresses
                .into_iter()
                .enumerate()
                .map(|(i, a)| (format!("addresses[{i}]"), a))
                .collect()
        }
        // Both: every address given, `address` first, `addresses` under the same limit.
        (Some(address), Some(addresses)) => {
            if addresses.len() > MAX_ADDRESSES {
                errors.push(FieldError::new(
                    "addresses",
                    format!("at most {MAX_ADDRESSES} addresses per request"),
                ));
            }
            std::iter::once(("address".to_string(), address))
                .chain(
                    addresses
                        .into_iter()
                        .enumerate()
                        .map(|(i, a)| (format!("addresses[{i}]"), a)),
                )
                .collect()
        }
        (None, None) => {
            errors.push(FieldError::new(
                "address",
                "give `address` (one) or `addresses` (a list)",
            ));
            Vec::new()
        }
    };
    let mut addresses = Vec::with_capacity(given.len());
    if errors.is_empty() {
        for (field, value) in given {
            match EmailAddress::parse(value.trim()) {
                Ok(address) => addresses.push(address.to_string()),
                Err(e) => errors.push(FieldError::new(field, e)),
            }
        }
    }
    // The limit counts what was sent, spaces around included (as the schema does).
    if request
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        errors.push(FieldError::new(
            "note",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let note = request
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if errors.is_empty() {
        Ok((addresses, note))
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Whether an address is on the suppression list, and why.
#[utoipa::path(get, path = "/v1/suppressions/{address}", tag = "suppressions", security(("api_key" = ["read"])),
    params(("address" = String, Path, description = "The address (case does not matter)", example = "jane@example.com")),
    responses(
        (status = 200, description = "The address is suppressed", body = Suppression),
        (status = 404, description = "The address is not on the list", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn get_suppression(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    address: Result<PathId<ListedAddress>, ApiError>,
) -> Result<Json<Suppression>, ApiError> {
    auth.require(Scope::Read)?;
    let address = address?;
    let ListedAddress(address) = &*address;
    state
        .store
        .get_suppression(&auth.0.tenant_id, address)
        .await?
        .map(Json)
        .ok_or_else(|| ListedAddress::not_found(address))
}

/// Remove an address from the suppression list: Sluice sends to it again.
#[utoipa::path(delete, path = "/v1/suppressions/{address}", tag = "suppressions", security(("api_key" = ["admin"])),
    params(("address" = String, Path, description = "The address (case does not matter)", example = "jane@example.com")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "The address is not on the list", body = Problem, content_type = "application/problem+json"),
        CommonErrors,
    ))]
async fn delete_suppression(
    auth: ApiKeyAuth,
    State(state): State<AppState>,
    address: Result<PathId<ListedAddress>, ApiError>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::Admin)?;
    let address = address?;
    let ListedAddress(address) = &*address;
    remove(&state, &auth.0.tenant_id, address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes `address` (as given: parsed here) from the tenant's list; 404 when it is
/// not on it (the JSON route and the console's button).
pub(crate) async fn remove(
    state: &AppState,
    tenant: &TenantId,
    address: &str,
) -> Result<(), ApiError> {
    let Some(ListedAddress(address)) = ListedAddress::parse_segment(address) else {
        return Err(ListedAddress::not_found(address));
    };
    match state.store.remove_suppression(tenant, &address).await? {
        Some(_) => Ok(()),
        None => Err(ListedAddress::not_found(&address)),
    }
}

/// An address in the path, normalised. One that does not parse cannot be on the
/// list: a 404, like any other.
struct ListedAddress(String);

impl PathResource for ListedAddress {
    fn parse_segment(segment: &str) -> Option<Self> {
        EmailAddress::parse(segment.trim())
            .ok()
            .map(|address| Self(address.to_string()))
    }

    fn not_found(address: &str) -> ApiError {
        ApiError::NotFound(format!("{address} is not on the suppression list"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        address: Option<&str>,
        addresses: Option<Vec<&str>>,
        note: Option<&str>,
    ) -> AddSuppressionsRequest {
        AddSuppressionsRequest {
            address: address.map(str::to_string),
            addresses: addresses.map(|a| a.into_iter().map(str::to_string).collect()),
            note: note.map(str::to_string),
        }
    }

    fn fields(result: Result<(Vec<String>, Option<String>), ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_every_bad_address() {
        let result = validate(request(
            None,
            Some(vec!["ok@x.test", "nope", "also@x.test", "a@@b"]),
            None,
        ));
        assert_eq!(fields(result), ["addresses[1]", "addresses[3]"]);
        assert_eq!(
            fields(validate(request(Some("bad"), None, None))),
            ["address"]
        );
    }

    #[test]
    fn wants_address_or_addresses_and_takes_both_together() {
        assert_eq!(fields(validate(request(None, None, None))), ["address"]);
        assert_eq!(
            fields(validate(request(None, Some(vec![]), None))),
            ["addresses"]
        );
        let too_many = vec!["a@x.test"; MAX_ADDRESSES + 1];
        assert_eq!(
            fields(validate(request(None, Some(too_many), None))),
            ["addresses"]
        );
        // Both: every address, `address` first, `addresses` within the same limit.
        let (both, _) =
            validate(request(Some("a@x.test"), Some(vec!["b@x.test"]), None)).expect("both");
        assert_eq!(both, ["a@x.test", "b@x.test"]);
        let (one, _) = validate(request(Some("a@x.test"), Some(vec![]), None)).expect("one");
        assert_eq!(one, ["a@x.test"]);
        let at_limit = vec!["b@x.test"; MAX_ADDRESSES];
        let (all, _) = validate(request(Some("a@x.test"), Some(at_limit), None)).expect("limit");
        assert_eq!(all.len(), MAX_ADDRESSES + 1);
        let over = vec!["b@x.test"; MAX_ADDRESSES + 1];
        assert_eq!(
            fields(validate(request(Some("a@x.test"), Some(over), None))),
            ["addresses"]
        );
    }

    #[test]
    fn keeps_the_note_and_the_parsed_addresses() {
        let (addresses, note) = validate(request(
            Some(" Jane@Example.COM "),
            None,
            Some(" by phone "),
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(addresses, ["Jane@example.com"]);
        assert_eq!(note.as_deref(), Some("by phone"));
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        assert_eq!(
            fields(validate(request(Some("a@x.test"), None, Some(&long)))),
            ["note"]
        );
    }
}
