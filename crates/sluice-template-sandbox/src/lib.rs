//! Template rendering in child processes whose memory per render is capped.
//!
//! Templates are written by tenants and rendered with minijinja at accept time.
//! minijinja bounds the *steps* of a render (fuel) but not the *bytes*: one `*`
//! makes a 100 MB string, each `s ~ s` doubles it, and `{% set a = [a, a] %}` forty
//! times builds a list that prints as 2^40 items — in a handful of steps. In the API
//! process (which in `sluice serve` also runs the workers) that is gigabytes, then
//! the kernel's OOM killer.
//!
//! Why a process and not checks inside minijinja: no hook sees allocations. The
//! operators (`~`, `+`, `*`, `in`, comparisons) are built into the VM and cannot
//! be replaced; `~` and `in` format whole values, so a cheap nested list becomes a
//! huge string inside one instruction; dozens of built-in filters (`join`,
//! `replace`, `tojson`, `string`, `indent`, `center`, `format`, `dictsort`, …)
//! allocate in proportion to values that sharing makes exponentially larger than
//! their cost in fuel. Rewriting the compiled instructions (`unstable_machinery`)
//! would mean auditing every instruction and filter of each minijinja release; a
//! counting global allocator needs `unsafe`, which the workspace forbids, and could
//! not stop an allocation anyway (Rust aborts the process when one fails). The
//! kernel can: each render runs in a `sluice render-sandbox` process (a hidden
//! subcommand of the same binary) under a lowered `RLIMIT_DATA` ([`memory`]), so an
//! allocation past the bound fails, that process ends, and the API answers 422.
//!
//! Also bounded there: time. One instruction can run for hours (`==` on two such
//! nested lists), out of fuel's sight; a watchdog in the child and a deadline in
//! the parent end it.
//!
//! The protocol is one JSON line per request and per reply over the child's stdin
//! and stdout ([`protocol`]); [`pool`] keeps up to one process per core and replaces
//! any that dies. The child gets an empty environment: no secret reaches it.

mod child;
pub mod config;
pub mod memory;
mod pool;
mod protocol;

pub use child::{ChildLimits, EXIT_TIMED_OUT, serve_child};
pub use config::{ByteSize, TemplatesConfig};
pub use pool::{SandboxConfig, SandboxError, TemplateSandbox, human_bytes};
pub use protocol::SUBCOMMAND;
