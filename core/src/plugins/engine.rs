//! The process's wasmtime engine, the thread that ticks its epoch, and the
//! runtime plugin calls run on.
//!
//! Calls are async: a plugin yields to the runtime at every epoch tick, and
//! the whole call (host waits included, such as a WASI sleep) is raced
//! against its deadline, so no import can hold a call past its time limit.
//! They run on a runtime of their own, not the server's, so a spinning
//! plugin competes with other plugin calls for the plugin threads, never
//! with request handling for the server's.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits;

/// How often the epoch ticks. A spinning plugin yields (and has its
/// deadline checked) once a tick, so a call ends at most one tick after its
/// deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Dirtied linear memory a pool slot keeps resident between calls: what a
/// 1,000-message transcript call touches (input, output, the guest's
/// stack), so that ordinary calls never fault pages back in.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// The engine's settings. `pooled` is the server's engine (an instance pool
/// sized for the maximum concurrent calls); the compile worker uses the same
/// settings without the pool, which changes nothing in the compiled code, so
/// what it serializes the server can load.
fn config(pooled: bool) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        // Slots as large as the largest memory allowed: growth past the
        // cap fails in the limiter before it could need more.
        .memory_reservation(limits::MAX_MEMORY_BYTES)
        .memory_reservation_for_growth(0)
        .memory_guard_size(64 << 10)
        .max_wasm_stack(512 << 10)
        .async_stack_size(1 << 20);
    if pooled {
        let calls = limits::MAX_CONCURRENT_CALLS;
        let mut pool = PoolingAllocationConfig::default();
        // A Rust component is a few core instances (the program and the
        // shims that adapt its imports), one memory and a few tables.
        pool.total_component_instances(calls)
            .total_core_instances(calls * 8)
            .max_core_instances_per_component(16)
            .total_memories(calls * 2)
            .max_memories_per_component(2)
            .total_tables(calls * 8)
            .max_tables_per_component(8)
            .total_stacks(calls)
            .max_memory_size(limits::MAX_MEMORY_BYTES as usize)
            // Reset a slot's memory by zeroing the pages the call dirtied
            // (found with the PAGEMAP_SCAN ioctl, Linux 6.7+) instead of
            // unmapping them: the next call then takes no page faults, and
            // the process sends no TLB-shootdown interrupts to every core.
            // Before this a short call spent most of its time in the kernel
            // (perf: page faults and tlb_flush IPIs). Up to this many
            // dirtied bytes stay resident per slot (64 slots: 128 MiB at
            // most); a call that dirtied more is reset with madvise.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto)
            // What a call dirtied past that goes back to the kernel as the
            // call ends. Batching it (8 a batch was tried) left up to 7
            // batches' worth per core resident until more calls came: a
            // plugin growing to 64 MiB left the server 74 MiB larger after
            // 100 calls (`--bench memory`). Only calls that dirtied more
            // than the kept bytes pay for it.
            .decommit_batch_size(1);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    } else {
        // One component at a time, and a predictable memory footprint for
        // the compile worker's limit.
        config.parallel_compilation(false);
    }
    config
}

/// The process's engine. Every server in the process (tests start many)
/// shares it, its instance pool and its epoch thread.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let engine = Engine::new(&config(true)).expect("the plugin engine configuration is valid");
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("start the plugin epoch thread");
        engine
    })
}

/// An engine for compiling only (the compile worker process): no instance
/// pool, no epoch thread.
pub fn compile_engine() -> Engine {
    Engine::new(&config(false)).expect("the plugin engine configuration is valid")
}

/// Names the engine's code format in cache file names, so that an upgrade or
/// a settings change misses the cache instead of loading foreign code.
pub fn engine_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine().precompile_compatibility_hash().hash(&mut h);
        format!("{:016x}", h.finish())
    })
}

/// The runtime plugin calls run on: one thread per core.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores())
            .thread_name("plugin-call")
            .enable_time()
            // A call that yielded goes on here, and its outbound requests
            // (contract 0.4.0's `http.fetch`) open sockets from here.
            .enable_io()
            .on_thread_start(lower_priority)
            .build()
            .expect("start the plugin runtime")
    })
}

/// How much less the plugin threads weigh with the kernel's scheduler than
/// the server's own (a nice value: 10 is about a tenth of the CPU share
/// under contention). A plugin that spins at its limits then takes what
/// request handling, the database and the other workspaces leave, instead
/// of half the cores whatever they need; idle cores it still uses whole.
const PLUGIN_NICE: libc::c_int = 10;

fn lower_priority() {
    // SAFETY: setpriority on this very thread (Linux keeps a nice value
    // per thread); a failure leaves the default priority, which is safe.
    #[cfg(target_os = "linux")]
    unsafe {
        let thread = libc::gettid() as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, thread, PLUGIN_NICE) != 0 {
            tracing::debug!("cannot lower the plugin threads' priority");
        }
    }
}

/// The cores this process may use; defaults of the slot settings derive
/// from it.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
