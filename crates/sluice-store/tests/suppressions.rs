//! The suppression list against a real, private redis-server.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use sluice_model::{MessageId, SuppressionReason, TenantId};
use sluice_store::embedded::EmbeddedRedis;
use sluice_store::{NewSuppression, Store, SuppressionCursor};

struct Fixture {
    _dir: tempfile::TempDir,
    _redis: EmbeddedRedis,
    store: Store,
    list: Store,
    tenant: TenantId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let store = Store::connect(&redis.url(), Duration::from_secs(3600))
        .await
        .unwrap();
    let tenant = store.create_tenant("acme").await.unwrap().id;
    Fixture {
        _dir: dir,
        _redis: redis,
        list: store.clone(),
        store,
        tenant,
    }
}

#[tokio::test]
async fn add_get_check_and_remove_ignore_case() {
    let f = fixture().await;
    let added = f
        .list
        .add_suppression(
            &f.tenant,
            "Jane@Example.COM",
            NewSuppression::manual(Some("asked by phone".into())),
        )
        .await
        .unwrap();
    assert!(added.added);
    assert_eq!(added.entry.address, "jane@example.com");
    assert_eq!(added.entry.reason, SuppressionReason::Manual);
    assert_eq!(added.entry.note.as_deref(), Some("asked by phone"));

    let got = f
        .list
        .get_suppression(&f.tenant, "JANE@example.com")
        .await
        .unwrap();
    assert_eq!(got.as_ref(), Some(&added.entry));

    let found = f
        .list
        .check_suppressions(&f.tenant, &["jane@EXAMPLE.com", "other@example.com"])
        .await
        .unwrap();
    assert_eq!(found, HashSet::from(["jane@example.com".to_string()]));

    let removed = f
        .list
        .remove_suppression(&f.tenant, "jane@example.com")
        .await
        .unwrap();
    assert_eq!(removed, Some(added.entry));
    assert_eq!(
        f.list
            .get_suppression(&f.tenant, "jane@example.com")
            .await
            .unwrap(),
        None
    );
    assert!(
        f.list
            .remove_suppression(&f.tenant, "jane@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let page = f
        .list
        .list_suppressions(&f.tenant, None, 10, None)
        .await
        .unwrap();
    assert!(page.entries.is_empty(), "the order indexes were cleaned");
    let manual = f
        .list
        .list_suppressions(&f.tenant, None, 10, Some(SuppressionReason::Manual))
        .await
        .unwrap();
    assert!(manual.entries.is_empty());
}

#[tokio::test]
async fn pages_are_stable_newest_first_and_filterable() {
    let f = fixture().await;
    // Several adds share a millisecond (a batch always does): ties are ordered too.
    let batch: Vec<String> = (0..25).map(|i| format!("user{i:02}@x.test")).collect();
    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
    let added = f
        .list
        .add_suppressions(&f.tenant, &refs, &NewSuppression::manual(None))
        .await
        .unwrap();
    assert!(added.iter().all(|a| a.added));
    tokio::time::sleep(Duration::from_millis(5)).await;
    for address in ["late1@x.test", "late2@x.test"] {
        let complaint = NewSuppression {
            reason: SuppressionReason::Complaint,
            message_id: Some(MessageId::generate()),
            event_id: Some("evt_1795376091664-0".into()),
            note: None,
        };
        f.list
            .add_suppression(&f.tenant, address, complaint)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    let mut seen = Vec::new();
    let mut cursor: Option<SuppressionCursor> = None;
    let mut pages = 0;
    loop {
        let page = f
            .list
            .list_suppressions(&f.tenant, cursor.as_ref(), 10, None)
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.entries.iter().map(|e| e.address.clone()));
        if pages == 1 {
            // Changes behind the cursor must not shift later pages.
            f.list
                .remove_suppression(&f.tenant, &seen[9])
                .await
                .unwrap();
            f.list
                .add_suppression(&f.tenant, "newest@x.test", NewSuppression::manual(None))
                .await
                .unwrap();
        }
        match page.next_cursor {
            // The cursor survives the text form a client would pass back.
            Some(next) => cursor = Some(SuppressionCursor::parse(&next.to_string()).unwrap()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 27, "every entry exactly once: {seen:?}");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 27);
    assert_eq!(&seen[..2], ["late2@x.test", "late1@x.test"]);
    assert!(!seen.contains(&"newest@x.test".to_string()));

    let complaints = f
        .list
        .list_suppressions(&f.tenant, None, 10, Some(SuppressionReason::Complaint))
        .await
        .unwrap();
    let addresses: Vec<_> = complaints
        .entries
        .iter()
        .map(|e| e.address.as_str())
        .collect();
    assert_eq!(addresses, ["late2@x.test", "late1@x.test"]);
    assert!(complaints.next_cursor.is_none());

    let exact = f
        .list
        .list_suppressions(&f.tenant, None, 27, None)
        .await
        .unwrap();
    assert_eq!(exact.entries.len(), 27);
    assert!(exact.next_cursor.is_none(), "no empty last page");
}

#[tokio::test]
async fn tenants_do_not_share_lists() {
    let f = fixture().await;
    let other = f.store.create_tenant("other").await.unwrap().id;
    f.list
        .add_suppression(&f.tenant, "jane@example.com", NewSuppression::manual(None))
        .await
        .unwrap();
    assert!(
        f.list
            .check_suppressions(&other, &["jane@example.com"])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.list
            .list_suppressions(&other, None, 10, None)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    assert!(
        f.list
            .remove_suppression(&other, "jane@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.list
            .get_suppression(&f.tenant, "jane@example.com")
            .await
            .unwrap()
            .is_some()
    );
}
