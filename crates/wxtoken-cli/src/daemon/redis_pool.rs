//! The daemon's handles on Redis servers: the core's [`RedisServer`], one
//! small pool of connections per server and process, which the stores of
//! every app on that server share with the store watcher and publishing.
//! 5,000 apps on one Redis are a handful of clients, not 5,000.

use std::sync::Arc;
use std::time::Duration;

pub use wxtoken::RedisServer as Pool;

/// Where the daemon gets its pools.
#[derive(Default)]
pub struct Pools;

impl Pools {
    /// The pool for `url` (nothing connects yet).
    pub fn get(&self, url: &str, timeout: Duration) -> Arc<Pool> {
        Pool::shared(url, None, timeout)
    }
}
