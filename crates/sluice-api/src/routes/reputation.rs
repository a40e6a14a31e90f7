//! The reputation guard as the operator sees it: a tenant's rates per stream over
//! the window (shown by `GET /v1/admin/tenants/{id}`), and resuming a paused bulk
//! stream (`POST /v1/admin/tenants/{id}/resume`, declared with the other admin routes).

use std::collections::BTreeMap;

use sluice_model::{
    EventType, MessageEvent, MessageStream, ReputationEventData, TenantId, TenantReputation,
};
use sluice_store::BucketWindow;
use time::OffsetDateTime;

use crate::AppState;
use crate::problem::ApiError;

/// The tenant's rates per stream over the window, the thresholds, and the pause.
pub async fn tenant_reputation(
    state: &AppState,
    tenant: &TenantId,
) -> Result<TenantReputation, ApiError> {
    let policy = &state.settings.reputation;
    let window = BucketWindow::of(policy, sluice_model::time::now_ms());
    let snapshot = state
        .store
        .count_reputation(tenant, None, &[], window)
        .await?;
    let streams = MessageStream::ALL
        .into_iter()
        .map(|stream| {
            let counts = snapshot.counts.get(&stream).copied().unwrap_or_default();
            (stream, policy.report(stream, &counts))
        })
        .collect::<BTreeMap<_, _>>();
    Ok(TenantReputation {
        window_seconds: policy.window.as_secs(),
        min_volume: policy.min_volume,
        review: policy.review,
        pause: policy.pause,
        streams,
        bulk_paused: snapshot.bulk_paused,
    })
}

/// Lifts the bulk pause with a `tenant.resumed` event and releases the held mail.
pub async fn resume(state: &AppState, tenant: &TenantId) -> Result<(), ApiError> {
    let Some(pause) = state.store.bulk_pause(tenant).await? else {
        return Err(ApiError::Conflict(format!(
            "the bulk stream of tenant {tenant} is not paused"
        )));
    };
    let now = OffsetDateTime::now_utc();
    let mut event = MessageEvent::new(EventType::TenantResumed, now).detail(format!(
        "an operator resumed bulk sending (paused since {}: {}); the bulk rates start afresh and held bulk mail is on its way",
        pause
            .since
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        pause.figures.describe()
    ));
    event.reputation = Some(ReputationEventData {
        figures: pause.figures.clone(),
        thresholds: None,
        window_seconds: state.settings.reputation.window.as_secs(),
    });
    match state.store.resume_bulk(tenant, &event).await? {
        Some((_, released)) => {
            metrics::counter!("sluice_tenant_bulk_resumed_total").increment(1);
            tracing::info!(%tenant, released, "bulk stream resumed by an operator");
            Ok(())
        }
        None => Err(ApiError::Conflict(format!(
            "the bulk stream of tenant {tenant} is not paused"
        ))),
    }
}
