//! A least-recently-used cache of decoded chunks, bounded in bytes and shared by threads.
//!
//! The lock is held only to look up or insert, never while decoding: two workers missing
//! the same chunk at once may both decode it (rare, harmless), but no worker waits for
//! another's decode.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use super::codec::Chunk;

/// Identifies a chunk: (image index inside the slide, chunk index).
pub(crate) type ChunkKey = (u32, u64);

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<ChunkKey, (Arc<Chunk>, u64)>,
    by_age: BTreeMap<u64, ChunkKey>,
    clock: u64,
    bytes: usize,
}

/// The cache. A budget of 0 disables it.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    budget_bytes: usize,
    inner: Mutex<Inner>,
}

impl ChunkCache {
    /// A cache holding at most `budget_bytes` of decoded pixels.
    pub fn new(budget_bytes: usize) -> Self {
        ChunkCache {
            budget_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The chunk if cached (and marks it most recently used).
    pub fn get(&self, key: ChunkKey) -> Option<Arc<Chunk>> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let inner = &mut *g;
        let (chunk, stamp) = inner.map.get_mut(&key)?;
        inner.by_age.remove(stamp);
        inner.clock += 1;
        *stamp = inner.clock;
        inner.by_age.insert(inner.clock, key);
        Some(Arc::clone(chunk))
    }

    /// Stores a chunk, evicting the least recently used until within budget. Chunks
    /// larger than the whole budget are not stored.
    pub fn insert(&self, key: ChunkKey, chunk: Arc<Chunk>) {
        let size = chunk.bytes();
        if size > self.budget_bytes {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let inner = &mut *g;
        if let Some((old, stamp)) = inner.map.remove(&key) {
            inner.by_age.remove(&stamp);
            inner.bytes -= old.bytes();
        }
        while inner.bytes + size > self.budget_bytes {
            let Some((_, oldest)) = inner.by_age.pop_first() else {
                break;
            };
            if let Some((old, _)) = inner.map.remove(&oldest) {
                inner.bytes -= old.bytes();
            }
        }
        inner.clock += 1;
        let stamp = inner.clock;
        inner.by_age.insert(stamp, key);
        inner.map.insert(key, (chunk, stamp));
        inner.bytes += size;
    }

    /// Bytes currently held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: u32) -> Arc<Chunk> {
        Arc::new(Chunk::white(n, 1))
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let cache = ChunkCache::new(30);
        let c = |k| ((0u32, k as u64), Arc::new(Chunk::white(1, 3)));
        // Each chunk is 1x3 px = 9 bytes; three fit in 30.
        for k in 0..3 {
            let (key, ch) = c(k);
            cache.insert(key, ch);
        }
        assert_eq!(cache.bytes(), 27);
        assert!(cache.get((0, 0)).is_some()); // 0 is now the most recent
        let (key, ch) = c(3);
        cache.insert(key, ch);
        assert!(cache.get((0, 1)).is_none(), "1 was least recently used");
        assert!(cache.get((0, 0)).is_some());
        assert!(cache.get((0, 2)).is_some());
        assert!(cache.get((0, 3)).is_some());
        assert!(cache.bytes() <= 30);
    }

    #[test]
    fn oversized_chunks_are_not_kept() {
        let cache = ChunkCache::new(10);
        cache.insert((0, 0), chunk(100));
        assert!(cache.get((0, 0)).is_none());
        assert_eq!(cache.bytes(), 0);
    }
}
