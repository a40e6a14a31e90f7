//! How many entries a reader of the store's streams may claim in one call: the delivery
//! worker and the webhook sender both hold one semaphore permit per entry in flight,
//! and read only as many entries as they have permits for, so entries they could not
//! work on stay in Redis for other processes.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most permits taken at once (and so entries read by one call).
pub const MAX_BATCH: usize = 64;

/// Waits for at least one free permit, then takes as many as are free (up to
/// [`MAX_BATCH`]). `None` once `shutdown` completes first.
pub async fn take_permits(
    permits: &Arc<Semaphore>,
    shutdown: impl Future<Output = ()>,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let first = tokio::select! {
        permit = permits.clone().acquire_owned() => permit.ok()?,
        () = shutdown => return None,
    };
    let mut held = vec![first];
    while held.len() < MAX_BATCH {
        match permits.clone().try_acquire_owned() {
            Ok(permit) => held.push(permit),
            Err(_) => break,
        }
    }
    Some(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn takes_every_free_permit_up_to_the_batch() {
        let permits = Arc::new(Semaphore::new(MAX_BATCH + 6));
        let held = take_permits(&permits, std::future::pending()).await;
        assert_eq!(held.as_ref().map(Vec::len), Some(MAX_BATCH));
        assert_eq!(permits.available_permits(), 6);
        drop(held);
        assert_eq!(permits.available_permits(), MAX_BATCH + 6);
    }

    #[tokio::test]
    async fn gives_up_at_shutdown_when_none_is_free() {
        let permits = Arc::new(Semaphore::new(0));
        assert!(
            take_permits(&permits, std::future::ready(()))
                .await
                .is_none()
        );
    }
}
