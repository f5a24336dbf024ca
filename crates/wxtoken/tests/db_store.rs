//! The database store from async code, against a real server: the URL comes
//! from `WXTOKEN_TEST_DATABASE_URL`, which `tests/db/run.sh` (`make
//! test-db`) sets for MariaDB and then PostgreSQL while it runs them. Hence
//! `#[ignore]`: `cargo test` alone has no server; run with `--ignored`, a
//! missing URL fails rather than skips.
//!
//! What only Rust can show: the stores are called from tokio worker threads
//! (multi-thread and current-thread runtimes), where the synchronous
//! `postgres` client would panic; and the policy above the store (hit,
//! refresh, invalidate) holds on a database as on files.

mod common;

use common::World;
use wxtoken::TokenCache;

fn url() -> String {
    std::env::var("WXTOKEN_TEST_DATABASE_URL")
        .expect("set WXTOKEN_TEST_DATABASE_URL (tests/db/run.sh does)")
}

/// A cache on the database, in a table of the test's own.
fn cache(w: &World, table_prefix: &str) -> TokenCache {
    w.cache_with(
        w.builder()
            .database_url(url())
            .database_prefix(table_prefix),
    )
}

async fn get_refresh_invalidate(w: &World, table_prefix: &str) {
    let c = cache(w, table_prefix);
    let first = c
        .get_token_async()
        .await
        .expect("fetched into the database");
    assert_eq!(c.get_token_async().await.unwrap(), first, "a hit");
    assert_eq!(w.token_calls(), 1);
    // Another "host": nothing in common but the database.
    let other = cache(w, table_prefix);
    assert_eq!(other.get_token_async().await.unwrap(), first);
    assert_eq!(w.token_calls(), 1, "read from the database, not fetched");
    let second = c.force_refresh_async().await.unwrap();
    assert_ne!(second, first);
    // The old token is not dropped by an invalidate of it (newer kept)...
    assert!(!other.invalidate_async(&first).await.unwrap());
    // ...the current one is, and the next call fetches once.
    assert!(other.invalidate_async(&second).await.unwrap());
    let third = other.get_token_async().await.unwrap();
    assert_ne!(third, second);
    assert_eq!(w.token_calls(), 3);
    let status = c.status().unwrap();
    assert!(
        status
            .store
            .location
            .contains(&format!("{table_prefix}_credentials")),
        "{:?}",
        status.store
    );
    assert!(!format!("{:?}", status.store).contains(common::SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a database server: make test-db"]
async fn async_calls_on_a_multi_thread_runtime() {
    let w = World::new();
    get_refresh_invalidate(&w, "rust_mt").await;
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a database server: make test-db"]
async fn async_calls_on_a_current_thread_runtime() {
    let w = World::new();
    get_refresh_invalidate(&w, "rust_ct").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a database server: make test-db"]
async fn blocking_calls_from_inside_a_runtime_do_not_panic() {
    let w = World::new();
    let c = cache(&w, "rust_blocking");
    let token = c.get_token().expect("the blocking API inside tokio");
    assert_eq!(c.get_token_async().await.unwrap(), token);
}
