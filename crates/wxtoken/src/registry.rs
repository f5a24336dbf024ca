//! A bounded registry of caches, for front ends that are handed their
//! settings on every call (the C library, the PHP extension) and must not
//! build a `TokenCache` each time, nor keep one forever for every set of
//! settings they ever saw.
//!
//! Most recently used first, at most `capacity` entries: the least recently
//! used is dropped (with its open files) when a new one would exceed it. The
//! lookup takes a predicate, so callers compare their borrowed arguments with
//! the stored key without copying them; the common case, the same settings as
//! the last call, is found at the first entry. A linear scan over a few dozen
//! entries costs less than hashing the arguments would.

use std::sync::{Mutex, MutexGuard};

/// At most `capacity` values, each under the key it was built for.
pub struct CacheRegistry<K, V> {
    entries: Mutex<Vec<(K, V)>>,
    capacity: usize,
}

/// The registry's lock, held; see [`CacheRegistry::hold`].
pub struct RegistryHold<'a, K, V>(#[allow(dead_code)] MutexGuard<'a, Vec<(K, V)>>);

impl<K, V> std::fmt::Debug for CacheRegistry<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.entries.lock().map_or(0, |e| e.len());
        f.debug_struct("CacheRegistry")
            .field("len", &len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<K, V: Clone> CacheRegistry<K, V> {
    /// An empty registry keeping at most `capacity` (at least 1) entries.
    pub const fn new(capacity: usize) -> Self {
        CacheRegistry {
            entries: Mutex::new(Vec::new()),
            capacity: if capacity == 0 { 1 } else { capacity },
        }
    }

    fn entries(&self) -> MutexGuard<'_, Vec<(K, V)>> {
        // An entry is only ever inserted or removed whole, so a panic
        // elsewhere cannot leave one half-written.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value whose key `matches`, moved to the front; else the one
    /// `make` builds, kept in front (dropping the least recently used when
    /// full). `make` runs under the registry's lock, so it must not block:
    /// building a `TokenCache` opens and connects nothing.
    pub fn get_or_insert_with(
        &self,
        matches: impl Fn(&K) -> bool,
        make: impl FnOnce() -> (K, V),
    ) -> V {
        match self.try_get_or_insert_with(matches, || Ok::<_, std::convert::Infallible>(make())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// [`get_or_insert_with`](Self::get_or_insert_with) for a `make` that can
    /// fail: its error is returned and nothing is kept, so the next call with
    /// the same key tries again.
    pub fn try_get_or_insert_with<E>(
        &self,
        matches: impl Fn(&K) -> bool,
        make: impl FnOnce() -> Result<(K, V), E>,
    ) -> Result<V, E> {
        let mut entries = self.entries();
        if let Some(pos) = entries.iter().position(|(k, _)| matches(k)) {
            if pos != 0 {
                entries[..=pos].rotate_right(1);
            }
            return Ok(entries[0].1.clone());
        }
        let (key, value) = make()?;
        entries.insert(0, (key, value.clone()));
        let keep = entries.len().min(self.capacity);
        let evicted = entries.split_off(keep);
        drop(entries);
        // Dropped outside the lock: a cache's drop closes files.
        drop(evicted);
        Ok(value)
    }

    /// Holds the registry's lock until the returned value is dropped. For
    /// `pthread_atfork` handlers: taken before a fork and released after it
    /// in both processes, so that no other thread holds it at the moment of
    /// the fork (the child would wait for that thread forever).
    pub fn hold(&self) -> RegistryHold<'_, K, V> {
        RegistryHold(self.entries())
    }

    /// Forgets every entry; values still in use elsewhere live on until
    /// their last user lets go.
    pub fn clear(&self) {
        let old = std::mem::take(&mut *self.entries());
        drop(old);
    }

    /// How many entries are kept now.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_recently_used_first_and_bounded() {
        let r: CacheRegistry<u32, String> = CacheRegistry::new(3);
        let mut built = 0;
        let mut get = |k: u32| {
            r.get_or_insert_with(
                |x| *x == k,
                || {
                    built += 1;
                    (k, format!("v{k}"))
                },
            )
        };
        assert_eq!(get(1), "v1");
        assert_eq!(get(2), "v2");
        assert_eq!(get(3), "v3");
        assert_eq!(get(1), "v1"); // found, moved to the front
        assert_eq!(get(4), "v4"); // full: 2, the least recently used, goes
        assert_eq!(get(1), "v1");
        assert_eq!(get(3), "v3");
        assert_eq!(get(2), "v2"); // built again
        let _ = &mut get; // the closure borrows `built`; done with it
        assert_eq!(built, 5);
        assert_eq!(r.len(), 3);
        let failed: Result<String, &str> = r.try_get_or_insert_with(|x| *x == 9, || Err("no"));
        assert_eq!(failed, Err("no"));
        assert_eq!(r.len(), 3, "a failure is not kept");
        r.clear();
        assert!(r.is_empty());
    }
}
