//! The sandbox process: reads render requests from stdin, renders each under a
//! memory cap and a watchdog, and writes the replies to stdout, until stdin closes.
//!
//! A render that allocates past the cap ends this process (Rust aborts on a failed
//! allocation, printing "memory allocation of N bytes failed"); one that runs past
//! the time limit is ended by the watchdog with [`EXIT_TIMED_OUT`]. Either way the
//! parent sees the process gone, answers that request, and starts another process.
//! Nothing but the replies is ever written to stdout.

use std::io::{self, BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_model::{RenderContext, RenderError, Rendered};

use crate::memory::DataLimit;
use crate::protocol::{Reply, RequestIn};

/// The exit code of a sandbox process whose render ran out of time.
pub const EXIT_TIMED_OUT: i32 = 124;

/// The request buffer's capacity kept between requests; a larger one is freed.
const LINE_KEPT: usize = 1 << 20;

/// What a sandbox process is allowed per render.
#[derive(Clone, Copy, Debug)]
pub struct ChildLimits {
    /// Bytes one render may add to the process's data segment.
    pub max_memory: u64,
    /// Wall-clock time one render may take.
    pub timeout: Duration,
}

/// Runs the sandbox loop on this process's stdin and stdout (the `sluice
/// render-sandbox` subcommand). Returns when stdin closes or the process retires.
pub fn serve_child(limits: ChildLimits) -> io::Result<()> {
    let limit = DataLimit::probe()?;
    let watchdog = Watchdog::start(limits.timeout);
    let baseline = limit.current_bytes()?;
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut output = io::stdout().lock();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request: RequestIn = serde_json::from_str(&line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if line.capacity() > LINE_KEPT {
            line = String::new();
        }
        let (result, start_bytes) = render(&request, limit, limits, &watchdog)?;
        drop(request);
        // Freed memory the allocator keeps counts towards the next render's start;
        // a process that has grown by a whole bound ends after this reply and is
        // replaced, so the growth cannot accumulate.
        let retire = start_bytes > baseline.saturating_add(limits.max_memory);
        serde_json::to_writer(&mut output, &Reply { result, retire })?;
        output.write_all(b"\n")?;
        output.flush()?;
        if retire {
            return Ok(());
        }
    }
}

/// Renders under the cap; also returns the process size the cap started from.
fn render(
    request: &RequestIn,
    limit: DataLimit,
    limits: ChildLimits,
    watchdog: &Watchdog,
) -> io::Result<(Result<Rendered, RenderError>, u64)> {
    let context = RenderContext::new(&request.data);
    let cap = limit.cap_growth(limits.max_memory)?;
    watchdog.arm();
    let result = catch_unwind(AssertUnwindSafe(|| {
        request.body.render_with(&context, request.max_bytes)
    }));
    watchdog.disarm();
    let start_bytes = cap.start_bytes();
    drop(cap);
    let result = result.unwrap_or_else(|_| {
        Err(RenderError::Template(
            "the template engine failed on this template".into(),
        ))
    });
    Ok((result, start_bytes))
}

/// Ends the process when a render outlives the time limit: a single instruction
/// (comparing two huge nested lists) can take hours, and fuel does not see inside
/// it. The parent has its own deadline too; this one also holds if the parent died.
///
/// Arming is a store to an atomic (no wake-up per render); the watchdog thread
/// looks a few times per time limit, so it fires within a quarter of it late.
struct Watchdog {
    /// The deadline in milliseconds since `epoch`; 0 when no render runs.
    deadline_ms: Arc<AtomicU64>,
    epoch: Instant,
    timeout: Duration,
}

impl Watchdog {
    fn start(timeout: Duration) -> Self {
        let deadline_ms = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watched = Arc::clone(&deadline_ms);
        let period = (timeout / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(period);
                let deadline = watched.load(Ordering::Acquire);
                if deadline != 0 && millis_since(epoch) > deadline {
                    eprintln!("render took longer than {timeout:?}; ending the sandbox");
                    std::process::exit(EXIT_TIMED_OUT);
                }
            }
        });
        Self {
            deadline_ms,
            epoch,
            timeout,
        }
    }

    fn arm(&self) {
        let deadline = millis_since(self.epoch)
            .saturating_add(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX))
            .max(1);
        self.deadline_ms.store(deadline, Ordering::Release);
    }

    fn disarm(&self) {
        self.deadline_ms.store(0, Ordering::Release);
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}
