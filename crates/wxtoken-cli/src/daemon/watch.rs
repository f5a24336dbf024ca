//! The store watcher: every [`RECHECK`](super::schedule::RECHECK) it reads
//! what readers of every app would read, and wakes the apps whose token went
//! missing (an `invalidate`, a `FLUSHDB`, a Redis restart, emptied files),
//! was replaced by someone else, or whose published keys vanished.
//!
//! It is cheap on purpose, so that "within seconds" costs nearly nothing at
//! rest: Redis apps are read in batches, one `MGET` per few hundred apps per
//! server, and the publish keys with pipelined `EXISTS`; files are read (and
//! closed again) one app after another on a blocking thread.

use std::collections::HashMap;
use std::sync::Arc;

use super::app::{Running, Store, View};
use super::redis_keys;
use super::redis_pool::Pool;

/// Apps per Redis round trip.
const BATCH: usize = 500;

/// One look at every app's store; blocking (run it off the runtime).
pub fn look(apps: &[Arc<Running>]) {
    let mut by_pool: HashMap<*const Pool, (Arc<Pool>, Vec<&Arc<Running>>)> = HashMap::new();
    let mut by_publish: HashMap<*const Pool, (Arc<Pool>, Vec<&Arc<Running>>)> = HashMap::new();
    for app in apps {
        match &app.store {
            Store::Pooled { pool, .. } => by_pool
                .entry(Arc::as_ptr(pool))
                .or_insert_with(|| (pool.clone(), Vec::new()))
                .1
                .push(app),
            // Unreadable is as good as empty to a reader.
            _ => app.observe(app.read_view().ok().flatten()),
        }
        if let Some(pool) = &app.publish_pool {
            by_publish
                .entry(Arc::as_ptr(pool))
                .or_insert_with(|| (pool.clone(), Vec::new()))
                .1
                .push(app);
        }
    }
    for (pool, apps) in by_pool.values() {
        for chunk in apps.chunks(BATCH) {
            read_batch(pool, chunk);
        }
    }
    for (pool, apps) in by_publish.values() {
        for chunk in apps.chunks(BATCH) {
            check_published(pool, chunk);
        }
    }
}

/// One `MGET` of the token and expiry of each app in `apps`.
fn read_batch(pool: &Pool, apps: &[&Arc<Running>]) {
    let mut keys = Vec::with_capacity(apps.len() * 2);
    for app in apps {
        if let Store::Pooled { keys: k, .. } = &app.store {
            keys.push(k.token.as_str());
            keys.push(k.expires_at.as_str());
        }
    }
    let mget = || -> wxtoken::Result<Vec<Option<Vec<u8>>>> {
        pool.with("read from", |c| redis::cmd("MGET").arg(&keys).query(c))
    };
    // On a Cluster redis-rs splits the MGET by slot but does not follow a
    // MOVED in it: after a slot moved, the batch fails once. The failed
    // connection is dropped, and a new one starts from the cluster's
    // current slot map, so one more try tells a moved slot from an outage.
    let read = match mget() {
        Err(_) if pool.is_cluster() => mget(),
        read => read,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match read {
        Ok(values) if values.len() == keys.len() => {
            let mut values = values.into_iter();
            for app in apps {
                let (token, expiry) = (values.next().flatten(), values.next().flatten());
                let margin = app.app.config.refresh_margin();
                // The fetch time caps the margin; without it in the batch
                // the configured one is used here, and the round itself
                // reads the whole record.
                let view = redis_keys::parse(token, expiry, None)
                    .filter(|c| c.is_valid(now))
                    .map(|c| View {
                        refresh_at: c.refresh_at(margin),
                        expires_at: c.expires_at,
                        token: c.token,
                    });
                app.observe(view);
            }
        }
        Ok(_) => {}
        Err(_) => {
            for app in apps {
                app.observe(None);
            }
        }
    }
}

/// Pipelined `EXISTS` of each app's published keys; an app whose token was
/// published but whose keys are not all there is told to publish again.
fn check_published(pool: &Pool, apps: &[&Arc<Running>]) {
    let published: Vec<(&Arc<Running>, Vec<String>)> = apps
        .iter()
        .filter(|a| a.published.lock().is_ok_and(|p| p.is_some()))
        .filter_map(|a| a.publish().map(|p| (*a, p.keys())))
        .collect();
    if published.is_empty() {
        return;
    }
    let counts = if pool.is_cluster() {
        // A pipeline goes to one node; on a Cluster each app's keys are
        // counted by one `EXISTS`, which redis-rs splits by slot.
        published
            .iter()
            .map(|(_, keys)| {
                pool.with("read from", |c| {
                    redis::cmd("EXISTS").arg(keys).query::<usize>(c)
                })
            })
            .collect::<wxtoken::Result<Vec<usize>>>()
    } else {
        let mut pipe = redis::pipe();
        for (_, keys) in &published {
            pipe.cmd("EXISTS").arg(keys);
        }
        pool.with("read from", |c| pipe.query::<Vec<usize>>(c))
    };
    let counts = match counts {
        Ok(counts) => counts,
        Err(_) => {
            // The keys cannot be confirmed: health says so, and each app
            // tries to publish again (which counts the failure).
            for (app, _) in &published {
                app.metrics.set_publish_failing();
                app.wake.notify_one();
            }
            return;
        }
    };
    for ((app, keys), n) in published.iter().zip(counts) {
        if n < keys.len() {
            app.publish_missing();
        }
    }
}
