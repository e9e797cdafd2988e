//! The sandbox a call runs in: a WASI context with nothing in it, a memory
//! cap, and the host's capped logging. What each contract version imports
//! on top is linked by its own module (`versions/`).

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::limits;
use crate::domain::hooks::HookKind;

/// What one call's store holds.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) memory: MemoryCap,
    pub(super) log: LogSink,
    /// The workspace's zone, for the clock interface.
    time_zone: chrono_tz::Tz,
    /// Where the call may send HTTP requests (contract 0.4.0), if anywhere.
    pub(crate) outbound: Option<super::outbound::CallOutbound>,
    stderr: MemoryOutputPipe,
}

impl CallState {
    pub(super) fn new(
        memory_bytes: usize,
        tenant_id: &str,
        plugin: &str,
        hook: HookKind,
        time_zone: chrono_tz::Tz,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(limits::MAX_STDERR_BYTES);
        // No directories, environment, arguments, network or stdin/stdout
        // (standard error is kept, bounded, for the reason of a panic); clocks
        // stopped at the epoch and randomness fixed, so a plugin's output
        // depends only on what the contract passes in.
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(StoppedClock)
            .monotonic_clock(StoppedClock)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![0x5a; 32]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0xa5; 32]))
            .insecure_random_seed(0)
            .stderr(stderr.clone())
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: memory_bytes,
                hit: false,
                peak: 0,
            },
            log: LogSink {
                tenant_id: tenant_id.to_owned(),
                plugin: plugin.to_owned(),
                hook,
                kept: 0,
                dropped: 0,
                lines: Vec::new(),
            },
            outbound: None,
            time_zone,
            stderr,
        }
    }

    /// What the call wrote to standard error: a Rust guest's panic message
    /// lands here before the abort that traps it.
    pub(super) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    pub(crate) fn time_zone(&self) -> chrono_tz::Tz {
        self.time_zone
    }

    /// The call's resources (the chat a 0.2.0 hook reads, WASI's streams).
    pub(crate) fn resources(&self) -> &ResourceTable {
        &self.table
    }

    pub(crate) fn resources_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct StoppedClock;

impl wasmtime_wasi::HostWallClock for StoppedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for StoppedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Refuses memory growth past the call's cap and remembers that it did, so
/// the resulting trap (Rust aborts when an allocation fails) is reported as
/// the memory limit it is.
pub(super) struct MemoryCap {
    max_bytes: usize,
    pub(super) hit: bool,
    /// The largest linear memory the call was given, in bytes.
    pub(super) peak: usize,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

pub(super) struct LogSink {
    tenant_id: String,
    plugin: String,
    hook: HookKind,
    kept: u32,
    pub(super) dropped: u32,
    /// What the call wrote, for the workspace's plugin log.
    pub(super) lines: Vec<(tracing::Level, String)>,
}

impl LogSink {
    /// Keeps the line (clipped, with at most 16 fields) while the call is
    /// under its line cap, and counts it as dropped after.
    pub(super) fn write(&mut self, level: tracing::Level, message: &str, fields: &[(String, String)]) {
        if self.kept >= limits::MAX_LOG_LINES {
            self.dropped += 1;
            return;
        }
        self.kept += 1;
        let mut line = clip(message, limits::MAX_LOG_LINE_BYTES);
        for (k, v) in fields.iter().take(16) {
            if line.len() >= limits::MAX_LOG_LINE_BYTES {
                break;
            }
            line.push_str(&format!(" {}={}", clip(k, 64), clip(v, 256)));
        }
        let line = clip(&line, limits::MAX_LOG_LINE_BYTES);
        self.emit(level, line);
    }

    /// A line the host writes about the call (an outbound request): it
    /// does not count against the plugin's own lines.
    pub(crate) fn note(&mut self, level: tracing::Level, line: &str) {
        self.emit(level, clip(line, limits::MAX_LOG_LINE_BYTES));
    }

    fn emit(&mut self, level: tracing::Level, line: String) {
        let (tenant, plugin, hook) = (&self.tenant_id, &self.plugin, self.hook);
        match level {
            tracing::Level::DEBUG => tracing::debug!(target: "threadline::plugin", %tenant, %plugin, %hook, "{line}"),
            tracing::Level::INFO => tracing::info!(target: "threadline::plugin", %tenant, %plugin, %hook, "{line}"),
            tracing::Level::WARN => tracing::warn!(target: "threadline::plugin", %tenant, %plugin, %hook, "{line}"),
            _ => tracing::error!(target: "threadline::plugin", %tenant, %plugin, %hook, "{line}"),
        }
        self.lines.push((level, line));
    }
}

/// At most `max` bytes of `s`, on a character boundary, control characters
/// shown escaped so a plugin cannot forge log lines.
fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        if out.len() + piece.len() > max {
            break;
        }
        out.push_str(&piece);
    }
    out
}
