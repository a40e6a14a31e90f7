//! Server-side scripts. Each is a `.lua` file beside this one (the contract, KEYS and
//! ARGV, is written at its top); the ones here are the steps of a message's life, the
//! others sit with the module that calls them. Every key a script touches is passed
//! in KEYS and shares one hash tag (Redis Cluster safe).
//!
//! **Names come from Rust.** A script never spells a key name, a field name, a
//! consumer group or a marker value that the Rust code also spells: it gets them in
//! ARGV (names) or KEYS (keys) from the one constant in `keys` or in the owning
//! module. A family of scripts takes its names as the first ARGV, bound to `local`s
//! by a shared `<family>_names.lua` prelude ([`Names`]); the script's own arguments
//! follow. Literals left in the Lua are names no Rust code reads (the quota-day
//! hash's `m<minute>`/`s`/`f`, the webhook delivery hash), the spellings of the
//! model's public enums and JSON (`queued`, a recipient's `address`), and the words
//! of the scripts' own replies, which each caller decodes into a type.
//!
//! Scripts a worker needs to move mail along carry `#!lua flags=allow-oom` (the
//! settle, claim, promote and wait-list scripts here, and the throttle, adaptive-rate
//! and warm-up scripts): when Redis is out of memory (noeviction), the API's intake is
//! refused (503), but workers can still claim, take a sending slot, settle (which
//! drops message bodies), record late events and move due mail, so the queue drains
//! and memory frees instead of everything stopping. They need Redis 7.0 or newer.

use std::sync::LazyLock;

use redis::{Script, ScriptInvocation};

use crate::keys;

mod intake;
pub use intake::{ACCEPT, ADMIT, ENQUEUE, FEED_BULK, PROMOTE};

/// The names a family of scripts takes as its first ARGV: the prelude that binds
/// them and the Rust list, in the same order.
pub(crate) struct Names {
    prelude: &'static str,
    names: fn() -> Vec<&'static str>,
}

impl Names {
    pub const fn new(prelude: &'static str, names: fn() -> Vec<&'static str>) -> Self {
        Self { prelude, names }
    }
}

/// The message scripts' names (`scripts/message_names.lua`).
pub(crate) const MESSAGE_NAMES: Names = Names::new(
    include_str!("scripts/message_names.lua"),
    keys::message_script_names,
);

/// A script whose first ARGV are its family's [`Names`].
pub(crate) struct Lua {
    script: Script,
    names: fn() -> Vec<&'static str>,
}

impl Lua {
    /// `body` after the preludes: its family's names, then `shared` (common functions).
    pub fn new(names: &Names, shared: &[&str], body: &str) -> Self {
        // Every script of the family runs in the tests, so a prelude and its Rust list
        // out of step fail there.
        debug_assert_eq!(
            bound(names.prelude),
            (names.names)().len(),
            "a names prelude and its Rust list disagree"
        );
        let mut preludes = vec![names.prelude];
        preludes.extend_from_slice(shared);
        Self {
            script: compose(&preludes, body),
            names: names.names,
        }
    }

    /// An invocation with the names already in ARGV; add the script's own after them.
    pub fn call(&self) -> ScriptInvocation<'_> {
        let mut invocation = self.script.prepare_invoke();
        invocation.arg((self.names)());
        invocation
    }
}

/// One script from the preludes and the body. A body's `#!lua` line stays first:
/// Redis reads the flags only there.
pub(crate) fn compose(preludes: &[&str], body: &str) -> Script {
    let (flags, rest) = match body.strip_prefix("#!lua") {
        Some(_) => body.split_once('\n').unwrap_or((body, "")),
        None => ("", body),
    };
    let mut code = String::with_capacity(body.len() + 1024);
    if !flags.is_empty() {
        code.push_str(flags);
        code.push('\n');
    }
    for prelude in preludes {
        code.push_str(prelude);
        code.push('\n');
    }
    code.push_str(rest);
    Script::new(&code)
}

/// See `scripts/take_over.lua`.
pub static TAKE_OVER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/take_over.lua")));

/// See `scripts/own_idle.lua`.
pub static FEED_COPY: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/feed_copy.lua")));

/// See `scripts/own_idle.lua`.
pub static OWN_IDLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/own_idle.lua")));

/// Settles one delivery attempt with its acknowledgement (see `scripts/settle.lua`).
pub static SETTLE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&MESSAGE_NAMES, &[], include_str!("scripts/settle.lua")));

/// Records an event that arrives after delivery (see `scripts/record_event.lua`).
pub static RECORD_EVENT: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        &MESSAGE_NAMES,
        &[],
        include_str!("scripts/record_event.lua"),
    )
});

/// Releases messages waiting for a busy destination (see `scripts/release_waiting.lua`).
pub static RELEASE_WAITING: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        &MESSAGE_NAMES,
        &[],
        include_str!("scripts/release_waiting.lua"),
    )
});

/// Claims a message for an attempt (see `scripts/claim.lua`).
pub static CLAIM: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&MESSAGE_NAMES, &[], include_str!("scripts/claim.lua")));

/// Cancels a message waiting for delivery (see `scripts/cancel.lua`).
pub static CANCEL: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&MESSAGE_NAMES, &[], include_str!("scripts/cancel.lua")));

/// Adds a domain to a tenant if it is new (see `scripts/domain_create.lua`).
pub static CREATE_DOMAIN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/domain_create.lua")));

/// Compare-and-set of a domain (see `scripts/domain_update.lua`).
pub static UPDATE_DOMAIN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/domain_update.lua")));

/// Leases due domain checks (see `scripts/domain_checks_claim.lua`).
pub static CLAIM_DOMAIN_CHECKS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/domain_checks_claim.lua")));

/// How many names a names prelude binds (`local A, B = …` before its `local NAMES = n`,
/// which must agree, as must an `unpack(ARGV, 1, n)`), for the check in [`Lua::new`].
fn bound(prelude: &str) -> usize {
    let code: Vec<&str> = prelude
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    let code = code.join("\n");
    let names = code
        .split_once("local ")
        .and_then(|(_, rest)| rest.split_once('='))
        .map_or(0, |(names, _)| names.split(',').count());
    let agrees = code.contains(&format!("local NAMES = {names}"))
        && (!code.contains("unpack(ARGV") || code.contains(&format!("unpack(ARGV, 1, {names})")));
    if agrees { names } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_preludes_bind_what_rust_passes() {
        let families = [
            (MESSAGE_NAMES.prelude, (MESSAGE_NAMES.names)().len()),
            (include_str!("scripts/webhook_names.lua"), 11),
            (include_str!("scripts/suppression_names.lua"), 3),
            (include_str!("scripts/template_names.lua"), 3),
            (include_str!("scripts/adaptive_names.lua"), 5),
            (include_str!("scripts/warmup_names.lua"), 4),
        ];
        for (prelude, count) in families {
            assert_eq!(bound(prelude), count, "{prelude}");
        }
        assert_eq!((MESSAGE_NAMES.names)()[0], keys::GROUP);
        assert_eq!(bound("local A, B = unpack(ARGV, 1, 3)\nlocal NAMES = 2"), 0);
    }

    #[test]
    fn flags_stay_on_the_first_line() {
        let script = compose(&["local X = 1"], "#!lua flags=allow-oom\nreturn X\n");
        assert_eq!(
            script.get_hash(),
            Script::new("#!lua flags=allow-oom\nlocal X = 1\nreturn X\n").get_hash()
        );
        let plain = compose(&["local X = 1"], "return X\n");
        assert_eq!(
            plain.get_hash(),
            Script::new("local X = 1\nreturn X\n").get_hash()
        );
    }
}
