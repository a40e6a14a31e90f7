//! The key schema's version, checked when the store connects, before anything reads
//! or writes a key (see "Schema versions" in the crate documentation).
//!
//! The marker (`sluice:schema`) holds the version the keys are laid out in; no marker
//! means version 0, the layout from before versions (or an empty Redis). A newer
//! marker than this build knows stops the process: it would read and write keys it
//! does not understand. An older one is upgraded by the first process that starts,
//! under a lock, while the others wait for it; then the marker says the new version.

use std::time::{Duration, Instant};

use crate::connection::Conn;
use crate::{StoreError, keys};

/// The upgrade lock's lifetime; renewed after every batch of keys moved.
const LOCK_TTL: Duration = Duration::from_secs(30);

/// How long a start waits for another process's upgrade before it gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

/// Keys of version 0 (`sluice:<rest>`) are renamed `sluice:v1:<rest>`, the hash tag
/// untouched (so each rename stays in its slot). Only these forms of `<rest>` are
/// Sluice's: anything else under `sluice:` is left alone.
const UNVERSIONED_FORMS: [&str; 7] = [
    "{sluice:",
    "secret",
    "tenant-label:",
    "api-key:",
    "throttle:{",
    "adaptive:{",
    "warmup:{",
];

/// Makes sure the keys are laid out in [`keys::SCHEMA_VERSION`]: refuses a newer
/// schema, upgrades an older one (or marks an empty Redis).
pub(crate) async fn ensure(conn: &mut Conn) -> Result<(), StoreError> {
    let started = Instant::now();
    let token = format!("{:016x}", rand::random::<u64>());
    loop {
        let found = read(conn).await?;
        if found == keys::SCHEMA_VERSION {
            return Ok(());
        }
        if found > keys::SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: keys::SCHEMA_VERSION,
            });
        }
        let locked: Option<String> = redis::cmd("SET")
            .arg(keys::SCHEMA_LOCK)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(conn)
            .await?;
        if locked.is_some() {
            let upgraded = upgrade(conn).await;
            let _: () = redis::cmd("DEL")
                .arg(keys::SCHEMA_LOCK)
                .query_async(conn)
                .await?;
            upgraded?;
            continue;
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(StoreError::corrupt(
                keys::SCHEMA_LOCK,
                "another process has been upgrading the key schema for too long (delete this key if no process is)",
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The version the marker states; 0 without a marker.
async fn read(conn: &mut Conn) -> Result<u32, StoreError> {
    let marker: Option<String> = redis::cmd("GET")
        .arg(keys::SCHEMA_MARKER)
        .query_async(conn)
        .await?;
    match marker {
        None => Ok(0),
        Some(text) => text.trim().parse().map_err(|_| {
            StoreError::corrupt(keys::SCHEMA_MARKER, format!("not a version: {text}"))
        }),
    }
}

/// Under the lock: moves the keys one version at a time up to this one, setting the
/// marker after each step.
async fn upgrade(conn: &mut Conn) -> Result<(), StoreError> {
    loop {
        let version = read(conn).await?;
        let moved = match version {
            0 => upgrade_to_1(conn).await?,
            1 => upgrade_to_2(conn).await?,
            // Version 3 changed the format of new message bodies only (see `body`):
            // the records already queued are read as they are.
            2 => 0,
            // Upgraded meanwhile, by the process that held the lock before.
            _ => return Ok(()),
        };
        let _: () = redis::cmd("SET")
            .arg(keys::SCHEMA_MARKER)
            .arg(version + 1)
            .query_async(conn)
            .await?;
        if moved > 0 {
            tracing::info!(
                moved,
                version = version + 1,
                "moved keys to a newer key schema"
            );
        }
    }
}

/// Version 0 → 1: `sluice:<rest>` is renamed `sluice:v1:<rest>` (same hash tag, so
/// each rename stays in its slot).
async fn upgrade_to_1(conn: &mut Conn) -> Result<u64, StoreError> {
    let found = conn
        .scan_keys(&format!("{}*", keys::UNVERSIONED_ROOT))
        .await?;
    let mut renamed = 0_u64;
    for key in found {
        let Some(new) = versioned_name(&key) else {
            continue;
        };
        let moved: Result<i64, redis::RedisError> = redis::cmd("RENAMENX")
            .arg(&key)
            .arg(&new)
            .query_async(conn)
            .await;
        match moved {
            Ok(1) => renamed += 1,
            Ok(_) => {
                tracing::warn!(%key, %new, "not renamed: the new name is taken; the old key is left as it is");
            }
            // Gone since the SCAN saw it (expired).
            Err(e) if e.to_string().contains("no such key") => {}
            Err(e) => return Err(e.into()),
        }
        renamed_lock_refresh(conn, renamed).await?;
    }
    Ok(renamed)
}

/// Version 1 → 2: a tenant's quota state and Idempotency-Keys move from the queue's
/// slot (`{sluice:q0}:quota:<tenant>…`, `{sluice:q0}:idem:<tenant>:<hash>`) to the
/// tenant's (`{sluice:t:<tenant>}:quota…`, `…:idem:<hash>`), so queue partitions can
/// be spread over a cluster. Another slot: moved by DUMP and RESTORE (TTL kept).
async fn upgrade_to_2(conn: &mut Conn) -> Result<u64, StoreError> {
    let mut moved = 0_u64;
    for pattern in [QUOTA_V1, IDEM_V1] {
        for key in conn.scan_keys(&format!("{pattern}*")).await? {
            let Some(new) = v2_name(&key) else { continue };
            if move_key(conn, &key, &new).await? {
                moved += 1;
            }
            renamed_lock_refresh(conn, moved).await?;
        }
    }
    Ok(moved)
}

const QUOTA_V1: &str = "sluice:v1:{sluice:q0}:quota:";
const IDEM_V1: &str = "sluice:v1:{sluice:q0}:idem:";

/// The version-2 name of a version-1 quota or idempotency key.
fn v2_name(key: &str) -> Option<String> {
    if let Some(rest) = key.strip_prefix(QUOTA_V1) {
        // `<tenant>` (overrides) or `<tenant>:<stream>:rate|day`.
        let (tenant, tail) = match rest.split_once(':') {
            Some((tenant, tail)) => (tenant, format!(":{tail}")),
            None => (rest, String::new()),
        };
        return Some(format!("{}:{{sluice:t:{tenant}}}:quota{tail}", keys::ROOT));
    }
    let rest = key.strip_prefix(IDEM_V1)?;
    let (tenant, hash) = rest.split_once(':')?;
    Some(format!("{}:{{sluice:t:{tenant}}}:idem:{hash}", keys::ROOT))
}

/// Moves `key` to `new` (any slot): DUMP, RESTORE with the remaining TTL, DEL. A
/// taken new name keeps its value (newer), and the old key goes.
async fn move_key(conn: &mut Conn, key: &str, new: &str) -> Result<bool, StoreError> {
    let dump: Option<Vec<u8>> = redis::cmd("DUMP").arg(key).query_async(conn).await?;
    let Some(dump) = dump else {
        return Ok(false);
    };
    let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(conn).await?;
    let restored: Result<(), redis::RedisError> = redis::cmd("RESTORE")
        .arg(new)
        .arg(ttl.max(0))
        .arg(dump)
        .query_async(conn)
        .await;
    match restored {
        Ok(()) => {}
        Err(e) if e.code() == Some("BUSYKEY") => {
            tracing::warn!(%key, %new, "not moved: the new name is taken; keeping it");
        }
        Err(e) => return Err(e.into()),
    }
    let _: () = redis::cmd("DEL").arg(key).query_async(conn).await?;
    Ok(true)
}

/// Keeps the upgrade lock while a long upgrade runs (every 500 keys).
async fn renamed_lock_refresh(conn: &mut Conn, done: u64) -> Result<(), StoreError> {
    if done.is_multiple_of(500) {
        let _: () = redis::cmd("PEXPIRE")
            .arg(keys::SCHEMA_LOCK)
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(conn)
            .await?;
    }
    Ok(())
}

/// The current name of a version-0 key; `None` for anything else.
fn versioned_name(key: &str) -> Option<String> {
    let rest = key.strip_prefix(keys::UNVERSIONED_ROOT)?;
    let sluices = UNVERSIONED_FORMS
        .iter()
        .any(|form| rest.starts_with(form) && (*form != "secret" || rest == "secret"));
    sluices.then(|| format!("{}:{rest}", keys::ROOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_and_idempotency_keys_move_to_the_tenant_slot() {
        assert_eq!(
            v2_name("sluice:v1:{sluice:q0}:quota:ten_1").as_deref(),
            Some("sluice:v1:{sluice:t:ten_1}:quota")
        );
        assert_eq!(
            v2_name("sluice:v1:{sluice:q0}:quota:ten_1:bulk:day").as_deref(),
            Some("sluice:v1:{sluice:t:ten_1}:quota:bulk:day")
        );
        assert_eq!(
            v2_name("sluice:v1:{sluice:q0}:idem:ten_1:abc").as_deref(),
            Some("sluice:v1:{sluice:t:ten_1}:idem:abc")
        );
        assert_eq!(v2_name("sluice:v1:{sluice:q0}:msg:msg_1"), None);
        // The names the key module builds now.
        let tenant = sluice_model::TenantId::parse("ten_01jd4k5q8z6y2x1w0v9t8s7r6p")
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(
            v2_name(&format!("{QUOTA_V1}{tenant}:bulk:rate")),
            Some(keys::quota_rate(&tenant, sluice_model::MessageStream::Bulk))
        );
        assert_eq!(
            v2_name(&format!("{QUOTA_V1}{tenant}")),
            Some(keys::quota_overrides(&tenant))
        );
        assert_eq!(
            v2_name(&format!("{IDEM_V1}{tenant}:h")),
            Some(keys::idempotency(&tenant, "h"))
        );
    }

    #[test]
    fn only_version_0_keys_are_renamed_and_keep_their_hash_tag() {
        assert_eq!(
            versioned_name("sluice:{sluice:q0}:msg:msg_1").as_deref(),
            Some("sluice:v1:{sluice:q0}:msg:msg_1")
        );
        assert_eq!(
            versioned_name("sluice:throttle:{1.2.3.4|gmail}:5:60000").as_deref(),
            Some("sluice:v1:throttle:{1.2.3.4|gmail}:5:60000")
        );
        assert_eq!(
            versioned_name("sluice:secret").as_deref(),
            Some("sluice:v1:secret")
        );
        for untouched in [
            "sluice:v1:{sluice:q0}:delayed",
            "sluice:schema",
            "sluice:schema:upgrading",
            "sluice:secrets",
            "other:key",
        ] {
            assert_eq!(versioned_name(untouched), None, "{untouched}");
        }
    }
}
