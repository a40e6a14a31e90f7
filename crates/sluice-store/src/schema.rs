//! The key schema's version, checked when the store connects, before anything reads
//! or writes a key (see "Schema versions" in the crate documentation).
//!
//! The marker (`sluice:schema`) holds the version the keys are laid out in; no marker
//! means version 0, the layout from before versions (or an empty Redis). A newer
//! marker than this build knows stops the process: it would read and write keys it
//! does not understand. An older one is upgraded by the first process that starts,
//! under a lock, while the others wait for it; then the marker says the new version.

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

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
pub(crate) async fn ensure(conn: &mut ConnectionManager) -> Result<(), StoreError> {
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
async fn read(conn: &mut ConnectionManager) -> Result<u32, StoreError> {
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

/// Under the lock: moves every key to this version, then sets the marker. Only
/// version 0 precedes this one.
async fn upgrade(conn: &mut ConnectionManager) -> Result<(), StoreError> {
    if read(conn).await? != 0 {
        // Upgraded meanwhile, by the process that held the lock before.
        return Ok(());
    }
    let mut cursor: u64 = 0;
    let mut renamed = 0_u64;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", keys::UNVERSIONED_ROOT))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
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
        }
        let _: () = redis::cmd("PEXPIRE")
            .arg(keys::SCHEMA_LOCK)
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(conn)
            .await?;
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let _: () = redis::cmd("SET")
        .arg(keys::SCHEMA_MARKER)
        .arg(keys::SCHEMA_VERSION)
        .query_async(conn)
        .await?;
    if renamed > 0 {
        tracing::info!(
            renamed,
            version = keys::SCHEMA_VERSION,
            "moved the keys of the unversioned layout to the current key schema"
        );
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
