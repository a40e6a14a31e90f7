//! Names of consumers in the store's consumer groups (the queue's `workers`, the event
//! stream's `fanout`).

use std::sync::atomic::{AtomicU32, Ordering};

/// `<host>-<pid>-<role><n>`: unique per instance (several may share a process), and
/// readable in `XINFO CONSUMERS` and in the liveness keys. `role` tells the kinds
/// apart (`""` for delivery workers, `"wh"` for the event pipeline).
pub fn unique_consumer_name(role: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "host".into());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{role}{n}", host.trim(), std::process::id())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique_and_carry_the_role() {
        let (a, b) = (
            super::unique_consumer_name("wh"),
            super::unique_consumer_name("wh"),
        );
        assert_ne!(a, b);
        assert!(a.contains(&format!("-{}-wh", std::process::id())), "{a}");
    }
}
