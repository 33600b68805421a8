//! Where replaying sources remember how far they got.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A small key-value store for source checkpoints (each value a JSON document the source owns).
///
/// `save` must be durable when it returns: a source saves its intent (the range of the next batch) before
/// the batch is applied, and its progress after, and relies on both surviving a crash.
#[async_trait]
pub trait CheckpointStore: Send + Sync + fmt::Debug {
    /// The value saved under `key`.
    async fn load(&self, key: &str) -> Result<Option<String>>;
    /// Saves `value` under `key`, durably.
    async fn save(&self, key: &str, value: &str) -> Result<()>;
}

/// Checkpoints in memory, for tests and one-shot runs.
#[derive(Debug, Default)]
pub struct MemoryCheckpoints(Mutex<HashMap<String, String>>);

impl MemoryCheckpoints {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn load(&self, key: &str) -> Result<Option<String>> {
        Ok(self.0.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned())
    }
    async fn save(&self, key: &str, value: &str) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

/// Checkpoints as files in a directory (for the CLI, `<data-dir>/vfs-checkpoints`), one file per key,
/// replaced atomically (write a temporary file, fsync, rename, fsync the directory), on tokio's blocking
/// threads.
#[derive(Debug, Clone)]
pub struct DirCheckpoints {
    dir: PathBuf,
}

impl DirCheckpoints {
    /// Checkpoints under `dir`, created if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `key`: its readable characters plus a hash, so distinct keys never share a file.
    fn file(&self, key: &str) -> PathBuf {
        let readable: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let hash = crate::hex16(&Sha256::digest(key.as_bytes()));
        self.dir.join(format!("{readable}-{hash}.json"))
    }
}

#[async_trait]
impl CheckpointStore for DirCheckpoints {
    async fn load(&self, key: &str) -> Result<Option<String>> {
        let path = self.file(key);
        super::blocking(move || match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        })
        .await?
    }

    async fn save(&self, key: &str, value: &str) -> Result<()> {
        let (path, dir, value) = (self.file(key), self.dir.clone(), value.to_owned());
        // A temporary file of its own per save: a save whose future was dropped may still be running on its
        // blocking thread, and two saves must never write the same temporary file.
        static SAVES: AtomicU64 = AtomicU64::new(0);
        let n = SAVES.fetch_add(1, Ordering::Relaxed);
        super::blocking(move || {
            let tmp = path.with_extension(format!("json.{}-{n}.tmp", std::process::id()));
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(value.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(&dir)?.sync_all()
            };
            write().map_err(|e| Error::io(&path, e))
        })
        .await?
    }
}
