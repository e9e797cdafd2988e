//! Where compiled plugins are kept, with a lifecycle.
//!
//! - On disk, `<dir>/<sha256>-<engine hash>.cwasm`, written only for plugins
//!   that were installed (a refused upload leaves nothing), removed when the
//!   last plugin with those bytes is deleted, and pruned of entries no
//!   plugin uses (at start and then hourly).
//! - In memory, the loaded plugins of the workspaces, least recently used
//!   first out once their compiled code passes a byte budget. The built-in
//!   plugins are kept apart and never evicted.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use wasmtime::component::Component;

use super::engine::{engine, engine_hash};
use super::loaded::LoadedPlugin;

/// The disk half.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", engine_hash()))
    }

    /// The compiled component for these bytes, if this node compiled them
    /// before. A damaged entry is removed (and compiled again by the caller).
    pub fn read(&self, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file is one this server wrote into its own cache
        // directory (never bytes from a user), named by the hash of the
        // source and the engine; wasmtime also checks the engine matches.
        match unsafe { Component::deserialize_file(engine(), &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unusable plugin cache entry; compiling again");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Keeps `serialized` for `sha256`. Write then rename, so a reader never
    /// sees half a file.
    pub fn write(&self, sha256: &str, serialized: &[u8]) {
        let path = self.path(sha256);
        let written = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, serialized)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the plugin cache");
        }
    }

    pub fn has(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    pub fn remove(&self, sha256: &str) {
        let _ = std::fs::remove_file(self.path(sha256));
    }

    /// Removes every entry whose bytes no plugin has (`keep`), entries made
    /// by another engine, and leftovers of interrupted writes. Returns how
    /// many files went.
    pub fn prune(&self, keep: &HashSet<String>) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let suffix = format!("-{}.cwasm", engine_hash());
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let wanted = name.strip_suffix(&suffix).is_some_and(|sha| keep.contains(sha));
            if !wanted
                && (name.ends_with(".cwasm") || name.contains(".tmp"))
                && std::fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }
}

struct Entry {
    plugin: Arc<LoadedPlugin>,
    used: u64,
}

/// The memory half: loaded plugins by key, weighed by compiled code.
pub struct MemoryCache {
    budget: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

impl MemoryCache {
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            budget: budget_bytes,
            inner: Default::default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<LoadedPlugin>> {
        let mut lru = self.inner.lock().unwrap();
        lru.clock += 1;
        let now = lru.clock;
        let entry = lru.entries.get_mut(key)?;
        entry.used = now;
        Some(entry.plugin.clone())
    }

    /// Keeps `plugin`, evicting the least recently used until the code held
    /// fits the budget (the newest entry always stays: a plugin larger than
    /// the budget still runs, it is just the only one kept).
    pub fn insert(&self, key: String, plugin: Arc<LoadedPlugin>) {
        let mut lru = self.inner.lock().unwrap();
        lru.clock += 1;
        let used = lru.clock;
        lru.bytes += plugin.code_bytes;
        if let Some(old) = lru.entries.insert(key.clone(), Entry { plugin, used }) {
            lru.bytes -= old.plugin.code_bytes;
        }
        while lru.bytes > self.budget && lru.entries.len() > 1 {
            let oldest = lru
                .entries
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
                .expect("more than one entry");
            let gone = lru.entries.remove(&oldest).expect("just found");
            lru.bytes -= gone.plugin.code_bytes;
        }
    }

    pub fn remove(&self, key: &str) {
        let mut lru = self.inner.lock().unwrap();
        if let Some(gone) = lru.entries.remove(key) {
            lru.bytes -= gone.plugin.code_bytes;
        }
    }

    /// Entries and bytes of compiled code held.
    pub fn size(&self) -> (usize, usize) {
        let lru = self.inner.lock().unwrap();
        (lru.entries.len(), lru.bytes)
    }
}

/// A component's SHA-256, in hex: what the disk cache files its compiled
/// code under, and what a ticket's receipt names.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_cache_is_used_a_damaged_entry_is_dropped_and_pruning_keeps_what_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::new(dir.path().to_owned());
        let (_, wasm) = crate::plugins::builtin::BUILTIN[0];
        let component = crate::plugins::compiler::compile_in_process(wasm).unwrap();
        assert!(disk.read("kept").is_none());
        disk.write("kept", &component.serialize().unwrap());
        disk.write("gone", &component.serialize().unwrap());
        assert!(disk.read("kept").is_some());

        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("gone-"))
            .unwrap()
            .path();
        std::fs::write(&entry, b"not compiled code").unwrap();
        assert!(disk.read("gone").is_none(), "a damaged entry does not load");
        assert!(!entry.exists(), "and is removed");

        disk.write("gone", &component.serialize().unwrap());
        std::fs::write(dir.path().join("x.cwasm.tmp42"), b"half").unwrap();
        let removed = disk.prune(&["kept".to_owned()].into_iter().collect());
        assert_eq!(removed, 2);
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 1);
        assert!(left[0].starts_with("kept-"));
    }
}
