//! The tenant's suppression list: search (an address), cursor pages, add by hand
//! (one address a line, or pasted CSV: the first column), remove, and a CSV export.
//! Adding and removing go through the JSON routes' functions (same validation, same
//! 1000-address cap, scope `admin`).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_model::{Scope, Suppression};
use sluice_store::SuppressionCursor;

use super::session::{ConsoleAuth, ConsolePost};
use super::{ConsoleError, view};
use crate::AppState;
use crate::routes::suppressions::{AddSuppressionsRequest, add, remove};

const PAGE: usize = 50;
/// The most rows one export writes (a bigger list: page through `GET /v1/suppressions`).
const EXPORT_MAX: usize = 100_000;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    cursor: Option<String>,
}

fn row(entry: &Suppression) -> Value {
    json!({
        "address": entry.address,
        "reason": entry.reason.to_string(),
        "created": view::when(entry.created_at),
        "message_id": entry.message_id.as_ref().map(|m| m.as_str()),
        "note": entry.note,
    })
}

/// `GET /console/suppressions?q=&cursor=`.
pub async fn list(
    auth: ConsoleAuth,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let tenant = &auth.require(Scope::Read)?.tenant_id;
    let q = query.q.unwrap_or_default().trim().to_string();
    let (rows, next) = if q.is_empty() {
        let cursor = query.cursor.as_deref().and_then(SuppressionCursor::parse);
        let page = state
            .store
            .list_suppressions(tenant, cursor.as_ref(), PAGE, None)
            .await?;
        let rows: Vec<Value> = page.entries.iter().map(row).collect();
        let next = page
            .next_cursor
            .map(|c| format!("/console/suppressions?cursor={c}"));
        (rows, next)
    } else {
        let found = state
            .store
            .get_suppression(tenant, &q.to_lowercase())
            .await?;
        (found.iter().map(row).collect(), None)
    };
    Ok(view::page(
        "suppressions.html",
        &json!({
            "title": "Suppressions",
            "nav": auth.nav("suppressions"),
            "q": q,
            "rows": rows,
            "next": next,
            "may_admin": auth.has(Scope::Admin),
            "csrf": auth.csrf,
        }),
    )?
    .into_response())
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    addresses: String,
    #[serde(default)]
    note: String,
}

/// The addresses of the form: one a line, or CSV (the first column; a header row
/// `address,…` is skipped).
fn addresses_of(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split([',', ';', '\t']).next())
        .map(|cell| cell.trim().trim_matches('"').trim().to_string())
        .filter(|cell| !cell.is_empty() && !cell.eq_ignore_ascii_case("address"))
        .collect()
}

/// `POST /console/suppressions/add`.
pub async fn add_form(
    State(state): State<AppState>,
    post: ConsolePost<AddForm>,
) -> Result<Response, ConsoleError> {
    let tenant = post.auth.require(Scope::Admin)?.tenant_id.clone();
    let request = AddSuppressionsRequest {
        address: None,
        addresses: Some(addresses_of(&post.form.addresses)),
        note: Some(post.form.note.clone()),
    };
    add(&state, &tenant, request).await?;
    Ok(Redirect::to("/console/suppressions").into_response())
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    address: String,
}

/// `POST /console/suppressions/remove`.
pub async fn remove_form(
    State(state): State<AppState>,
    post: ConsolePost<RemoveForm>,
) -> Result<Response, ConsoleError> {
    let tenant = post.auth.require(Scope::Admin)?.tenant_id.clone();
    remove(&state, &tenant, &post.form.address).await?;
    Ok(Redirect::to("/console/suppressions").into_response())
}

/// A CSV cell: quoted when it holds a comma, quote or line break, and defused when
/// a spreadsheet would take it for a formula.
fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// `GET /console/suppressions.csv`: the whole list (up to [`EXPORT_MAX`] rows).
pub async fn export(
    auth: ConsoleAuth,
    State(state): State<AppState>,
) -> Result<Response, ConsoleError> {
    let tenant = &auth.require(Scope::Read)?.tenant_id;
    let mut csv = String::from("address,reason,created_at,message_id,note\n");
    let mut cursor = None;
    let mut rows = 0;
    loop {
        let page = state
            .store
            .list_suppressions(tenant, cursor.as_ref(), 1000, None)
            .await?;
        for entry in &page.entries {
            let created = entry
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            csv.push_str(&format!(
                "{},{},{},{},{}\n",
                cell(&entry.address),
                entry.reason,
                created,
                entry
                    .message_id
                    .as_ref()
                    .map(|m| m.as_str())
                    .unwrap_or_default(),
                cell(entry.note.as_deref().unwrap_or_default()),
            ));
            rows += 1;
        }
        match page.next_cursor {
            Some(next) if rows < EXPORT_MAX => cursor = Some(next),
            _ => break,
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"suppressions.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lines_and_csv_give_the_first_column() {
        let text = "address,reason\n\"jane@example.com\",manual\r\nbob@example.com\n\n  sue@example.com ; x";
        assert_eq!(
            addresses_of(text),
            ["jane@example.com", "bob@example.com", "sue@example.com"]
        );
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+1"), "'=1+1");
    }
}
