//! The structures the cache policies share: intrusive LRU lists over dense object ids ([`Lists`], O(1)
//! operations, every object in at most one list) and a set of cached objects ordered by a key
//! ([`KeyedSet`], O(log n) operations), for the policies that evict by score.

use std::collections::BTreeSet;

const NIL: u32 = u32::MAX;
const NOWHERE: u8 = u8::MAX;

/// Up to four LRU lists (front = most recent) over ids `0..n`, with byte totals.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lists {
    prev: Vec<u32>,
    next: Vec<u32>,
    which: Vec<u8>,
    size: Vec<u64>,
    head: [u32; 4],
    tail: [u32; 4],
    bytes: [u64; 4],
}

impl Lists {
    pub(crate) fn new() -> Self {
        Self {
            head: [NIL; 4],
            tail: [NIL; 4],
            ..Self::default()
        }
    }

    fn ensure(&mut self, id: u32) {
        let need = id as usize + 1;
        if self.prev.len() < need {
            let n = need.max(self.prev.len() * 2);
            self.prev.resize(n, NIL);
            self.next.resize(n, NIL);
            self.which.resize(n, NOWHERE);
            self.size.resize(n, 0);
        }
    }

    /// The list holding `id`, if any.
    pub(crate) fn which(&self, id: u32) -> Option<u8> {
        self.which.get(id as usize).copied().filter(|&w| w != NOWHERE)
    }

    /// The size `id` was inserted with.
    pub(crate) fn size_of(&self, id: u32) -> u64 {
        self.size.get(id as usize).copied().unwrap_or(0)
    }

    pub(crate) fn bytes(&self, list: u8) -> u64 {
        self.bytes[usize::from(list)]
    }

    pub(crate) fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }

    /// The least recent id of `list`.
    pub(crate) fn back(&self, list: u8) -> Option<u32> {
        let t = self.tail[usize::from(list)];
        (t != NIL).then_some(t)
    }

    /// The id after `id` towards the front (more recent), walking from the back.
    pub(crate) fn toward_front(&self, id: u32) -> Option<u32> {
        let p = self.prev[id as usize];
        (p != NIL).then_some(p)
    }

    /// Inserts `id` (in no list) at the front of `list`.
    pub(crate) fn push_front(&mut self, list: u8, id: u32, size: u64) {
        self.ensure(id);
        let l = usize::from(list);
        let i = id as usize;
        debug_assert_eq!(self.which[i], NOWHERE);
        self.which[i] = list;
        self.size[i] = size;
        self.prev[i] = NIL;
        self.next[i] = self.head[l];
        if self.head[l] != NIL {
            self.prev[self.head[l] as usize] = id;
        } else {
            self.tail[l] = id;
        }
        self.head[l] = id;
        self.bytes[l] += size;
    }

    /// Takes `id` out of its list; returns the list it was in.
    pub(crate) fn remove(&mut self, id: u32) -> Option<u8> {
        let list = self.which(id)?;
        let l = usize::from(list);
        let i = id as usize;
        let (p, n) = (self.prev[i], self.next[i]);
        if p != NIL {
            self.next[p as usize] = n;
        } else {
            self.head[l] = n;
        }
        if n != NIL {
            self.prev[n as usize] = p;
        } else {
            self.tail[l] = p;
        }
        self.which[i] = NOWHERE;
        self.bytes[l] -= self.size[i];
        Some(list)
    }

    /// Moves `id` to the front of `list` (from whichever list it is in).
    pub(crate) fn move_to_front(&mut self, list: u8, id: u32) {
        let size = self.size_of(id);
        self.remove(id);
        self.push_front(list, id, size);
    }

    /// Removes and returns the least recent id of `list`.
    pub(crate) fn pop_back(&mut self, list: u8) -> Option<u32> {
        let id = self.back(list)?;
        self.remove(id);
        Some(id)
    }
}

/// Cached objects ordered by a key (a count, a score, a next-use time), with their sizes and byte total.
#[derive(Debug, Clone)]
pub(crate) struct KeyedSet<K> {
    /// The key of each cached object; `None` when not cached.
    key: Vec<Option<K>>,
    size: Vec<u64>,
    order: BTreeSet<(K, u32)>,
    used: u64,
}

impl<K: Ord + Copy> KeyedSet<K> {
    pub(crate) fn new() -> Self {
        Self {
            key: Vec::new(),
            size: Vec::new(),
            order: BTreeSet::new(),
            used: 0,
        }
    }

    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    pub(crate) fn contains(&self, id: u32) -> bool {
        self.key.get(id as usize).is_some_and(Option::is_some)
    }

    /// Gives cached `id` a new key; `false` (and nothing changes) when `id` is not cached.
    pub(crate) fn rekey(&mut self, id: u32, key: K) -> bool {
        let Some(old) = self.key.get(id as usize).copied().flatten() else {
            return false;
        };
        self.order.remove(&(old, id));
        self.order.insert((key, id));
        self.key[id as usize] = Some(key);
        true
    }

    /// Adds `id` (not cached) with `key` and `size`; the caller evicts if that overfills.
    pub(crate) fn insert(&mut self, id: u32, key: K, size: u64) {
        let need = id as usize + 1;
        if self.key.len() < need {
            let n = need.max(self.key.len() * 2);
            self.key.resize(n, None);
            self.size.resize(n, 0);
        }
        debug_assert!(self.key[id as usize].is_none());
        self.order.insert((key, id));
        self.key[id as usize] = Some(key);
        self.size[id as usize] = size;
        self.used += size;
    }

    /// Gives every cached object the key `f(old key)`.
    pub(crate) fn rekey_all(&mut self, f: impl Fn(K) -> K) {
        let old = std::mem::take(&mut self.order);
        for (k, id) in old {
            let key = f(k);
            self.key[id as usize] = Some(key);
            self.order.insert((key, id));
        }
    }

    /// Takes `id` out if it is cached.
    pub(crate) fn remove(&mut self, id: u32) {
        if let Some(k) = self.key.get_mut(id as usize).and_then(Option::take) {
            self.order.remove(&(k, id));
            self.used -= self.size[id as usize];
        }
    }

    /// Evicts from the lowest key (`highest_first`: from the highest) until at most `capacity` bytes are held.
    pub(crate) fn evict_until(&mut self, capacity: u64, highest_first: bool) {
        while self.used > capacity {
            let popped = if highest_first {
                self.order.pop_last()
            } else {
                self.order.pop_first()
            };
            let Some((_, victim)) = popped else { break };
            self.key[victim as usize] = None;
            self.used -= self.size[victim as usize];
        }
    }

    /// Whether `need` bytes can be freed by evicting in the order of [`evict_until`](Self::evict_until)
    /// only objects for which `evictable(key)` holds (the admission test of a newcomer).
    pub(crate) fn can_free(&self, need: u64, highest_first: bool, evictable: impl Fn(K) -> bool) -> bool {
        if highest_first {
            self.frees(self.order.iter().rev(), need, evictable)
        } else {
            self.frees(self.order.iter(), need, evictable)
        }
    }

    fn frees<'a>(&self, walk: impl Iterator<Item = &'a (K, u32)>, need: u64, evictable: impl Fn(K) -> bool) -> bool
    where
        K: 'a,
    {
        let mut freed = 0u64;
        for &(k, v) in walk {
            if freed >= need {
                break;
            }
            if !evictable(k) {
                return false;
            }
            freed += self.size[v as usize];
        }
        freed >= need
    }
}
