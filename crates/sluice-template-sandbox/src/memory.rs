//! The memory cap of one render: the soft `RLIMIT_DATA` of the sandbox process set to
//! what its data segment holds now plus the bound, for the duration of the render.
//!
//! Since Linux 4.7 `RLIMIT_DATA` counts every private writable mapping (`VmData` in
//! `/proc/self/status`): the heap grown with `brk` and the anonymous `mmap`s glibc
//! makes for large blocks alike. An allocation past the limit fails, and Rust aborts
//! the process with "memory allocation of N bytes failed". On an older kernel
//! `RLIMIT_DATA` ignores `mmap`; [`DataLimit::probe`] finds that out by trying, and
//! falls back to `RLIMIT_AS` (the whole address space, `VmSize`), which is coarser
//! but still a bound.
//!
//! Lowering a soft limit and raising it again up to the hard limit needs no
//! privilege, so the cap is lifted after each render (the reply is serialised
//! without it) and set anew, from the then current size, before the next.

use std::io;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Which limit bounds the process, and how its current size is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataLimit {
    /// `RLIMIT_DATA`, measured as `VmData`.
    Data,
    /// `RLIMIT_AS`, measured as `VmSize`: for kernels where `RLIMIT_DATA` misses `mmap`.
    AddressSpace,
}

impl DataLimit {
    /// The limit that stops an `mmap`-backed allocation on this kernel: `RLIMIT_DATA`
    /// if a capped 64 MiB reservation fails under it, else `RLIMIT_AS`.
    pub fn probe() -> io::Result<Self> {
        const PROBE_BYTES: usize = 64 << 20;
        let cap = Self::Data.cap_growth(1 << 20)?;
        let mut probe: Vec<u8> = Vec::new();
        let stopped = probe.try_reserve_exact(PROBE_BYTES).is_err();
        drop(probe);
        drop(cap);
        Ok(if stopped {
            Self::Data
        } else {
            Self::AddressSpace
        })
    }

    fn resource(self) -> Resource {
        match self {
            Self::Data => Resource::Data,
            Self::AddressSpace => Resource::As,
        }
    }

    /// The process's current size as this limit counts it, in bytes.
    pub fn current_bytes(self) -> io::Result<u64> {
        let field = match self {
            Self::Data => "VmData:",
            Self::AddressSpace => "VmSize:",
        };
        let status = std::fs::read_to_string("/proc/self/status")?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| io::Error::other(format!("/proc/self/status has no {field} line")))
    }

    /// Caps the process at its current size plus `bytes` until the guard is dropped.
    pub fn cap_growth(self, bytes: u64) -> io::Result<Cap> {
        let resource = self.resource();
        let previous = getrlimit(resource);
        let start_bytes = self.current_bytes()?;
        let wanted = start_bytes.saturating_add(bytes);
        // Never above the hard limit: lowering the soft one is all we may do.
        let current = match previous.maximum {
            Some(hard) => wanted.min(hard),
            None => wanted,
        };
        setrlimit(
            resource,
            Rlimit {
                current: Some(current),
                maximum: previous.maximum,
            },
        )?;
        Ok(Cap {
            resource,
            previous,
            start_bytes,
        })
    }
}

/// A lowered soft limit; dropping it restores the one before.
#[must_use = "the cap is lifted when this is dropped"]
pub struct Cap {
    resource: Resource,
    previous: Rlimit,
    start_bytes: u64,
}

impl Cap {
    /// The process's size when the cap was set.
    pub fn start_bytes(&self) -> u64 {
        self.start_bytes
    }
}

impl Drop for Cap {
    fn drop(&mut self) {
        if let Err(error) = setrlimit(self.resource, self.previous) {
            // Left capped, the next allocation past the bound ends the process,
            // which the parent treats as a failed render and replaces.
            eprintln!("cannot lift the render memory cap: {error}");
        }
    }
}
