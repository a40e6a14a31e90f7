//! The kernel behaviour the sandbox relies on, checked on this machine: a capped
//! process cannot allocate past its bound, neither from the heap (`brk`) nor through
//! the `mmap` glibc uses for large blocks, and the cap lifts when its guard drops.
//!
//! One test in its own binary: the cap applies to the whole process, so no other
//! test may allocate while it holds.
#![allow(clippy::unwrap_used)]

use sluice_template_sandbox::memory::DataLimit;

const BOUND: u64 = 16 << 20;

#[test]
fn a_capped_process_cannot_grow_past_its_bound_and_the_cap_lifts() {
    let limit = DataLimit::probe().unwrap();
    assert_eq!(
        limit,
        DataLimit::Data,
        "RLIMIT_DATA does not cover mmap on this kernel (before Linux 4.7?); the sandbox falls back to RLIMIT_AS"
    );

    let cap = limit.cap_growth(BOUND).unwrap();
    // One large block (an mmap of its own) past the bound: refused.
    let mut large: Vec<u8> = Vec::new();
    assert!(
        large.try_reserve_exact(64 << 20).is_err(),
        "64 MiB in one block"
    );
    // Many small blocks (the brk heap) past the bound: refused before the end.
    let mut small: Vec<Vec<u8>> = Vec::new();
    let mut allocated = 0u64;
    let refused = loop {
        let mut block: Vec<u8> = Vec::new();
        if block.try_reserve_exact(16 << 10).is_err() {
            break true;
        }
        block.resize(16 << 10, 1);
        small.push(block);
        allocated += 16 << 10;
        if allocated > 4 * BOUND {
            break false;
        }
    };
    assert!(refused, "allocated {allocated} bytes in small blocks");
    assert!(
        allocated >= BOUND / 2,
        "the bound leaves room for real work: only {allocated} bytes fit"
    );
    drop(small);
    // Within the bound: fine.
    let mut within: Vec<u8> = Vec::new();
    assert!(within.try_reserve_exact(1 << 20).is_ok());
    drop(within);
    drop(cap);

    let mut after: Vec<u8> = Vec::new();
    assert!(
        after.try_reserve_exact(64 << 20).is_ok(),
        "the cap lifts when its guard drops"
    );
}
