//! Which content each VFS path shows, per mount point.

use std::collections::BTreeMap;
use std::ops::Bound;

use pin_core::{Cid, Timestamp};

use crate::event::is_under;

/// What the index knows about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    /// The mount point the path lives under.
    pub mount: String,
    /// The content at the path, if known (a directory or a file created empty may have none yet).
    pub cid: Option<Cid>,
    /// The file's size, if known.
    pub size: Option<u64>,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// When the entry last changed.
    pub updated: Timestamp,
}

/// A map from absolute VFS paths to their content, grouped by mount point.
///
/// Paths are full VFS paths (the mount point is a prefix), so one path belongs to exactly one entry. The
/// index follows renames (of a file, or of a directory with everything below it), deletes and overwrites;
/// what that means for pins is the adapter's business.
#[derive(Debug, Clone, Default)]
pub struct PathIndex {
    paths: BTreeMap<String, PathEntry>,
    mounts: BTreeMap<String, Option<Cid>>,
}

impl PathIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry at `path`.
    pub fn get(&self, path: &str) -> Option<&PathEntry> {
        self.paths.get(path)
    }

    /// The CID at `path`.
    pub fn cid(&self, path: &str) -> Option<&Cid> {
        self.paths.get(path).and_then(|e| e.cid.as_ref())
    }

    /// Number of paths known.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether no path is known.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Sets the entry at `path`, returning the one it replaced.
    pub fn insert(&mut self, path: String, entry: PathEntry) -> Option<PathEntry> {
        self.mounts.entry(entry.mount.clone()).or_insert(None);
        self.paths.insert(path, entry)
    }

    /// Records a mount point (and the content mounted there, if known).
    pub fn mount(&mut self, mount: &str, cid: Option<Cid>) {
        self.mounts.insert(mount.to_owned(), cid);
    }

    /// Forgets a mount point and returns every path that was under it.
    pub fn unmount(&mut self, mount: &str) -> Vec<(String, PathEntry)> {
        self.mounts.remove(mount);
        self.remove_tree(mount)
    }

    /// The mount points known, with the content mounted at each.
    pub fn mounts(&self) -> impl Iterator<Item = (&str, Option<&Cid>)> {
        self.mounts.iter().map(|(m, c)| (m.as_str(), c.as_ref()))
    }

    /// Every path at or below `dir`, in order.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a PathEntry)> + 'a {
        self.paths
            .range::<str, _>((Bound::Included(dir), Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(dir))
            .filter(move |(p, _)| is_under(p, dir))
            .map(|(p, e)| (p.as_str(), e))
    }

    /// Every path of one mount point.
    pub fn paths_of_mount<'a>(&'a self, mount: &'a str) -> impl Iterator<Item = (&'a str, &'a PathEntry)> + 'a {
        self.under(mount).filter(move |(_, e)| e.mount == mount)
    }

    /// Removes `path` and everything below it, returning what was removed.
    pub fn remove_tree(&mut self, path: &str) -> Vec<(String, PathEntry)> {
        let keys: Vec<String> = self.under(path).map(|(p, _)| p.to_owned()).collect();
        keys.into_iter()
            .filter_map(|k| self.paths.remove(&k).map(|e| (k, e)))
            .collect()
    }

    /// The most specific known mount point holding `path`.
    pub fn mount_of(&self, path: &str) -> Option<&str> {
        self.mounts
            .keys()
            .filter(|m| is_under(path, m))
            .max_by_key(|m| m.len())
            .map(String::as_str)
    }

    /// Moves `from` and everything below it to `to`, under mount point `to_mount` (the same mount, or
    /// another for a move across mounts), returning `(old path, new path, entry)` for each moved entry.
    /// Entries already at the targets are replaced (and returned in the second list).
    #[allow(clippy::type_complexity)]
    pub fn rename(
        &mut self,
        from: &str,
        to: &str,
        to_mount: &str,
        at: Timestamp,
    ) -> (Vec<(String, String, PathEntry)>, Vec<(String, PathEntry)>) {
        let moved = self.remove_tree(from);
        if !moved.is_empty() {
            self.mounts.entry(to_mount.to_owned()).or_insert(None);
        }
        let mut out = Vec::with_capacity(moved.len());
        let mut replaced = Vec::new();
        for (old, mut entry) in moved {
            let new = format!("{to}{}", &old[from.len()..]);
            entry.updated = at;
            entry.mount = to_mount.to_owned();
            if let Some(prev) = self.paths.insert(new.clone(), entry.clone()) {
                replaced.push((new.clone(), prev));
            }
            out.push((old, new, entry));
        }
        (out, replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cid: Option<&str>) -> PathEntry {
        PathEntry {
            mount: "/m".into(),
            cid: cid.map(|c| Cid::parse(c).unwrap()),
            size: None,
            is_dir: false,
            updated: Timestamp(0),
        }
    }

    #[test]
    fn renaming_a_directory_moves_what_is_below_it_only() {
        let mut ix = PathIndex::new();
        let c = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";
        ix.insert("/m/d".into(), entry(None));
        ix.insert("/m/d/a".into(), entry(Some(c)));
        ix.insert("/m/d/b/c".into(), entry(Some(c)));
        ix.insert("/m/dx".into(), entry(Some(c)));
        let (moved, _) = ix.rename("/m/d", "/m/e", "/m", Timestamp(5));
        assert_eq!(moved.len(), 3);
        assert!(ix.get("/m/e/b/c").is_some());
        assert!(ix.get("/m/d/a").is_none());
        assert!(ix.get("/m/dx").is_some(), "a sibling sharing the prefix stays");
        assert_eq!(ix.remove_tree("/m/e").len(), 3);
        assert_eq!(ix.len(), 1);
    }
}
