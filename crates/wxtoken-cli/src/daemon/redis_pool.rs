//! The daemon's handles on Redis servers: the core's [`RedisServer`], one
//! small pool of connections per server and process, which the stores of
//! every app on that server share with the store watcher and publishing.
//! 5,000 apps on one Redis are a handful of clients, not 5,000.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use wxtoken::RedisServer as Pool;

/// Where the daemon gets its pools.
#[derive(Default)]
pub struct Pools;

impl Pools {
    /// The pool for `url` (any form: one server, Sentinel, Cluster, with
    /// TLS trusting `ca_file`); nothing connects yet. The core's stores on
    /// the same URL, CA file and timeout get the same pool.
    pub fn get(&self, url: &str, ca_file: Option<&Path>, timeout: Duration) -> Arc<Pool> {
        Pool::shared(url, ca_file, timeout)
    }
}
