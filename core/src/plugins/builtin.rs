//! The built-in plugins: embedded in the server (built from `plugins/` by
//! `build.rs`, which keeps their list), loaded once per process and never
//! evicted, their compiled code kept in the plugin cache on disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::cache::DiskCache;
use super::cache::sha256_hex;
use super::compiler::Compiler;
use super::error::PluginError;
use super::javascript;
use super::loaded::LoadedPlugin;
use super::manifest::Manifest;

// `BUILTIN`: each built-in plugin's name and component.
include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// What a built-in plugin says of itself (asked once per process). `None`
/// for one that is not built in, or has no `describe` export.
pub async fn manifest(name: &str, disk: Option<DiskCache>, maker: Option<&Compiler>) -> Option<Manifest> {
    if name == javascript::NAME {
        return Some(javascript::manifest());
    }
    static SAID: OnceLock<Mutex<HashMap<String, Option<Manifest>>>> = OnceLock::new();
    let said = SAID.get_or_init(Default::default);
    if let Some(m) = said.lock().unwrap().get(name) {
        return m.clone();
    }
    let manifest = match load(name, disk, maker).await {
        Ok(plugin) => plugin.describe().await.unwrap_or_else(|e| {
            tracing::error!(plugin = name, error = %e, "a built-in plugin cannot describe itself");
            None
        }),
        Err(_) => None,
    };
    said.lock().unwrap().insert(name.to_owned(), manifest.clone());
    manifest
}

/// A built-in plugin, loaded once per process (from `disk` when it has it,
/// else made by `maker`'s worker process, else made here) and never
/// evicted.
pub async fn load(
    name: &str,
    disk: Option<DiskCache>,
    maker: Option<&Compiler>,
) -> Result<Arc<LoadedPlugin>, PluginError> {
    let (name, wasm) = BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .ok_or_else(|| PluginError::load(format!("there is no built-in plugin named {name:?}")))?;
    if let Some((p, _)) = builtins().lock().unwrap().get(name) {
        return Ok(p.clone());
    }
    let _making = making(name).await;
    if let Some((p, _)) = builtins().lock().unwrap().get(name) {
        return Ok(p.clone());
    }
    let component = compiled(name, wasm, disk, maker).await?;
    let mut plugin = LoadedPlugin::prepare(name.to_owned(), format!("builtin:{name}"), &component)?;
    plugin.sha256 = sha256_hex(wasm);
    plugin.version = if name == javascript::NAME {
        // Known without running it (an instance of its engine).
        Some(javascript::manifest().version)
    } else {
        plugin.describe().await.ok().flatten().map(|m| m.version)
    };
    let plugin = Arc::new(plugin);
    builtins().lock().unwrap().insert(name, (plugin.clone(), component));
    Ok(plugin)
}

/// Held while `name` is made or loaded: two requests (or two servers of a
/// process, or a request and the warm-up) wanting the JavaScript plugin
/// with a cold cache would otherwise both spend seconds of CPU making the
/// same thing. Per plugin, so a default plugin never waits behind that.
async fn making(name: &str) -> tokio::sync::MutexGuard<'static, ()> {
    static MAKING: [tokio::sync::Mutex<()>; BUILTIN.len()] =
        [const { tokio::sync::Mutex::const_new(()) }; BUILTIN.len()];
    let index = BUILTIN.iter().position(|(n, _)| *n == name).expect("a built-in plugin");
    MAKING[index].lock().await
}

/// Loads every built-in plugin into this process from the plugin cache in
/// `dir` (making, and writing there, what it lacks), and prunes `dir` of
/// anything else. For tests and benchmarks, which start many servers: the
/// JavaScript plugin costs seconds of CPU to make, and a cache kept between
/// runs makes it once.
pub async fn cache_builtins(dir: &std::path::Path) -> Result<(), PluginError> {
    let disk = DiskCache::new(dir.to_owned());
    for (name, _) in BUILTIN {
        load(name, Some(disk.clone()), None).await?;
        keep_on_disk(name, &disk);
    }
    disk.prune(&cache_keys().collect());
    Ok(())
}

/// Writes a loaded built-in plugin's compiled code to `disk` when it is not
/// there: this process may have made it before, without that cache (another
/// server of the process, or a test's), and the next start should find it.
pub fn keep_on_disk(name: &str, disk: &DiskCache) {
    let Some((_, wasm)) = BUILTIN.iter().find(|(n, _)| *n == name) else {
        return;
    };
    let key = cache_key(name, wasm);
    if disk.has(&key) {
        return;
    }
    let component = builtins().lock().unwrap().get(name).map(|(_, c)| c.clone());
    match component.map(|c| c.serialize()) {
        Some(Ok(bytes)) => disk.write(&key, &bytes),
        Some(Err(e)) => tracing::warn!(plugin = name, error = %e, "cannot serialize a built-in plugin"),
        None => {}
    }
}

/// The disk cache's keys of every built-in plugin (what pruning keeps).
pub fn cache_keys() -> impl Iterator<Item = String> {
    BUILTIN.iter().map(|(name, wasm)| cache_key(name, wasm))
}

/// Makes `name` on `disk` ahead of its first use, without loading it
/// here: by `maker`'s worker process, so making it costs this process no
/// memory. Nothing when it is there already, or without a worker (it is
/// then made when first used).
pub async fn make_on_disk(name: &'static str, disk: &DiskCache, maker: &Compiler) {
    let Some((name, wasm)) = BUILTIN.iter().find(|(n, _)| *n == name).copied() else {
        return;
    };
    let _making = making(name).await;
    // Loaded in this process already (another server of it used it):
    // written from there.
    keep_on_disk(name, disk);
    let key = cache_key(name, wasm);
    if disk.has(&key) {
        return;
    }
    let started = std::time::Instant::now();
    match maker.compile_builtin(name).await {
        Some(Ok(bytes)) => {
            disk.write(&key, &bytes);
            log_made(name, started, bytes.len());
        }
        Some(Err(e)) => {
            tracing::warn!(plugin = name, error = %e, "the compile worker could not make a built-in plugin")
        }
        None => {}
    }
}

/// Logged once the code is where it goes (on disk, when there is a disk
/// cache): whoever reads the line finds it there.
fn log_made(name: &str, started: std::time::Instant, bytes: usize) {
    tracing::info!(
        plugin = name,
        ms = started.elapsed().as_millis() as u64,
        bytes,
        "compiled a built-in plugin"
    );
}

/// Makes the built-in plugin `name`'s compiled code with `engine`,
/// serialized, in this process (the JavaScript plugin pre-initialised
/// first): what the compile worker runs for `compile-worker --builtin`
/// (with its compile-only engine), and a server without a worker.
pub fn make(name: &str, engine: &wasmtime::Engine) -> Result<Vec<u8>, String> {
    let (name, wasm) = BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .ok_or_else(|| format!("there is no built-in plugin named {name:?}"))?;
    let code: std::borrow::Cow<'static, [u8]> = if name == javascript::NAME {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(javascript::preinitialize(wasm))?.into()
    } else {
        wasm.into()
    };
    wasmtime::component::Component::new(engine, &code)
        .and_then(|c| c.serialize())
        .map_err(|e| format!("{e:#}"))
}

/// A built-in plugin's compiled code: from the disk cache when it has it,
/// else made (see [`made`]) and cached, then mapped from the cache file
/// (its pages are the page cache's, read in as they are run).
pub(super) async fn compiled(
    name: &'static str,
    wasm: &'static [u8],
    disk: Option<DiskCache>,
    maker: Option<&Compiler>,
) -> Result<wasmtime::component::Component, PluginError> {
    let key = cache_key(name, wasm);
    if let Some(c) = read_disk(disk.clone(), key.clone()).await {
        return Ok(c);
    }
    let started = std::time::Instant::now();
    let bytes = made(name, maker).await?;
    if let Some(disk) = &disk {
        disk.write(&key, &bytes);
    }
    log_made(name, started, bytes.len());
    if let Some(c) = read_disk(disk, key).await {
        return Ok(c);
    }
    // SAFETY: the bytes were made by this binary (in this process or its
    // compile worker), never by a client, and wasmtime checks they were
    // made for this engine's settings and version.
    unsafe { wasmtime::component::Component::deserialize(super::engine::engine(), &bytes) }
        .map_err(|e| PluginError::load(format!("its compiled code does not load: {e}")))
}

/// `name`'s compiled code, serialized: made in `maker`'s worker process
/// when there is one, so that what making it takes is not left in this
/// process's heap; else here, on a thread of its own (seconds of CPU for
/// the JavaScript plugin), never on the plugin runtime, whose few threads
/// must keep ticking other calls' deadlines.
async fn made(name: &'static str, maker: Option<&Compiler>) -> Result<Vec<u8>, PluginError> {
    let from_worker = match maker {
        Some(maker) => maker.compile_builtin(name).await,
        None => None,
    };
    let bytes = match from_worker {
        Some(Ok(bytes)) => bytes,
        other => {
            if let Some(Err(e)) = other {
                tracing::warn!(plugin = name, error = %e, "the compile worker could not make a built-in plugin; making it here");
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("plugin-make".into())
                .spawn(move || {
                    let _ = tx.send(make(name, super::engine::engine()));
                })
                .map_err(|e| PluginError::load(format!("cannot start making the plugin: {e}")))?;
            rx.await
                .map_err(|e| PluginError::load(format!("making the plugin failed: {e}")))?
                .map_err(|e| PluginError::load(format!("the plugin could not be made: {e}")))?
        }
    };
    Ok(bytes)
}

/// Compiled code from the disk cache, read off the async threads.
pub(super) async fn read_disk(disk: Option<DiskCache>, key: String) -> Option<wasmtime::component::Component> {
    let disk = disk?;
    tokio::task::spawn_blocking(move || disk.read(&key))
        .await
        .ok()
        .flatten()
}

/// Where a built-in plugin's compiled code is kept on disk: its bytes' hash,
/// marked for the JavaScript plugin, whose cached code is of its
/// pre-initialised form.
fn cache_key(name: &str, wasm: &[u8]) -> String {
    let sha256 = sha256_hex(wasm);
    if name == javascript::NAME {
        format!("{sha256}-preinitialised")
    } else {
        sha256
    }
}

/// The built-in plugins loaded in this process, with their components.
type Builtins = Mutex<HashMap<&'static str, (Arc<LoadedPlugin>, wasmtime::component::Component)>>;

fn builtins() -> &'static Builtins {
    static LOADED: OnceLock<Builtins> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::conversion::hooks::{AssignmentHook, Hooks, SubjectHook, SummaryHook, TranscriptHook};
    use crate::domain::MessageKind;
    use crate::domain::hooks::{FaultKind, HookFault, HookKind};
    use crate::domain::hooks::{HookAgent, HookCandidate, HookChat, validate};
    use crate::domain::transcript::PublicMessage;
    use crate::plugins::limits::Limits;
    use crate::plugins::local;

    /// xorshift64*: reproducible chats without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// Text mixing ASCII, accents, emoji, and (when `multiline`) runs of
        /// spaces, tabs and line breaks, sometimes long enough to be cut.
        fn text(&mut self, multiline: bool) -> String {
            const PIECES: [&str; 12] = [
                "order", "Zoë", "😀", "refund", "  ", "日本", "x", "é", "42", "ok?", "—", "a",
            ];
            const BREAKS: [&str; 4] = ["\n", "\t", "\r\n", "   "];
            let len = if self.below(10) == 0 { 120 } else { self.below(12) };
            let mut s = String::new();
            for _ in 0..len {
                s.push_str(PIECES[self.below(PIECES.len() as u64) as usize]);
                if multiline && self.below(4) == 0 {
                    s.push_str(BREAKS[self.below(BREAKS.len() as u64) as usize]);
                } else {
                    s.push(' ');
                }
            }
            s
        }
    }

    fn chat(rng: &mut Rng) -> HookChat {
        // 1900 to 2200, either side of the epoch, with milliseconds.
        let mut at = -2_208_988_800_000 + (rng.below(9_467_280_000_000) as i64);
        let kinds = [MessageKind::Visitor, MessageKind::Agent, MessageKind::System];
        let messages = (0..rng.below(15))
            .map(|_| {
                at += rng.below(3_600_000) as i64;
                let kind = kinds[rng.below(3) as usize];
                let name = rng.text(false);
                PublicMessage::new(kind, name, rng.text(true), DateTime::from_timestamp_millis(at).unwrap()).unwrap()
            })
            .collect();
        HookChat {
            chat_id: "chat".into(),
            subject: (rng.below(2) == 0).then(|| rng.text(false)),
            visitor_name: rng.text(false),
            visitor_email: None,
            started_at: DateTime::from_timestamp_millis(at).unwrap(),
            messages,
            time_zone: "UTC".into(),
            utc_offset_minutes: 0,
        }
    }

    /// The default plugins and the native rules they stand in for agree on
    /// every chat, edge cases included (cut subjects, folded whitespace,
    /// dates before 1970, multi-byte text).
    #[tokio::test]
    async fn builtin_plugins_agree_with_the_native_rules() {
        let plugin = |name: &str| {
            let (_, wasm) = BUILTIN.iter().find(|(n, _)| *n == name).unwrap();
            local::load(wasm, name, Vec::new(), Limits::DEFAULT).unwrap()
        };
        let (subject, transcript) = (plugin("subject-default"), plugin("transcript-plain"));
        let (assignment, summary) = (plugin("assign-converting-agent"), plugin("summary-extractive"));
        let native = Hooks::builtin();
        let agent = HookAgent {
            id: "a1".into(),
            name: "Bob".into(),
        };
        let candidates = vec![HookCandidate {
            id: "a1".into(),
            name: "Bob".into(),
            online: true,
            open_tickets: 0,
            skills: vec![],
            last_assigned_at: None,
        }];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for i in 0..300 {
            let chat = chat(&mut rng);
            let expected = native.subject.subject(&chat).await.and_then(|s| {
                validate::subject(&s).map_err(|reason| HookFault {
                    hook: HookKind::Subject,
                    plugin: String::new(),
                    kind: FaultKind::Output,
                    reason,
                })
            });
            assert_eq!(subject.subject(&chat).await.ok(), expected.ok(), "subject of chat {i}");
            assert_eq!(
                transcript.transcript(&chat).await.unwrap(),
                native.transcript.transcript(&chat).await.unwrap(),
                "transcript of chat {i}"
            );
            assert_eq!(
                assignment.assignee(&chat, &agent, &candidates).await.unwrap(),
                native.assignment.assignee(&chat, &agent, &candidates).await.unwrap()
            );
            assert_eq!(
                summary.summary(&chat).await.unwrap(),
                native.summary.summary(&chat).await.unwrap(),
                "summary of chat {i}"
            );
        }
    }

    /// The JavaScript plugin's manifest, known without loading it, is what
    /// its `describe` says; and its pre-initialised form still links and
    /// exports every hook.
    #[tokio::test]
    async fn the_javascript_plugin_is_described_as_the_host_says() {
        let (name, wasm) = BUILTIN[4];
        assert_eq!(name, javascript::NAME);
        let component = compiled(name, wasm, None, None).await.unwrap();
        let plugin = LoadedPlugin::prepare(name.into(), name.into(), &component).unwrap();
        assert_eq!(plugin.hooks(), HookKind::ALL.to_vec());
        assert_eq!(plugin.describe().await.unwrap(), Some(javascript::manifest()));
    }
}
