//! One writer per data directory: an advisory lock on `<data-dir>/LOCK` that names its holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Held for as long as the writer lives; the operating system releases it if the process dies.
#[derive(Debug)]
pub(crate) struct WriterLock {
    file: File,
    path: PathBuf,
}

impl WriterLock {
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join("LOCK");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    dir: dir.to_owned(),
                    holder: holder(&mut file),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let me = format!(
            "pid {} on {}",
            std::process::id(),
            if host.is_empty() { "this host" } else { &host }
        );
        file.set_len(0).map_err(|e| Error::io("truncate", &path, e))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io("seek", &path, e))?;
        file.write_all(me.as_bytes())
            .map_err(|e| Error::io("write", &path, e))?;
        file.sync_data().map_err(|e| Error::io("fsync", &path, e))?;
        Ok(Self { file, path })
    }

    /// Who holds the lock of `dir`, if anyone (read without taking it).
    pub(crate) fn holder_of(dir: &Path) -> Option<String> {
        let path = dir.join("LOCK");
        let mut file = File::open(&path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(_) => Some(holder(&mut file)),
        }
    }
}

fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut s);
    if s.trim().is_empty() {
        "unknown process".to_owned()
    } else {
        s.trim().to_owned()
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        if let Err(e) = self.file.unlock() {
            tracing::warn!(path = %self.path.display(), error = %e, "could not release the writer lock");
        }
    }
}
