//! The async API on the caller's tokio runtime, both flavours, and the
//! blocking API called from inside a runtime (which panicked with reqwest's
//! blocking client). Against the real mock over HTTP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::World;
use wechat_mock::Fault;
use wxtoken::TokenCache;

async fn miss_then_hit(w: &World) {
    let cache = w.cache();
    let first = cache.get_token_async().await.unwrap();
    assert_eq!(cache.get_token_async().await.unwrap(), first);
    assert_eq!(w.token_calls(), 1);
    assert_eq!(w.read(&w.token_file()), first.as_bytes());
}

#[tokio::test(flavor = "current_thread")]
async fn miss_then_hit_on_a_current_thread_runtime() {
    miss_then_hit(&World::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_then_hit_on_a_multi_thread_runtime() {
    miss_then_hit(&World::new()).await;
}

async fn thirty_two_tasks_share_one_refresh(w: &World) {
    w.write_files("EXPIRED", "1");
    // A slow answer keeps the one fetch in flight while the others queue.
    w.mock
        .set_fault(Some(Fault::Slow(Duration::from_millis(300))), None);
    let cache = Arc::new(w.cache());
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_token_async().await })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(!tokens.contains("EXPIRED"));
    assert_eq!(w.token_calls(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn thirty_two_tasks_on_an_expired_cache_current_thread() {
    thirty_two_tasks_share_one_refresh(&World::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tasks_on_an_expired_cache_multi_thread() {
    thirty_two_tasks_share_one_refresh(&World::new()).await;
}

fn blocking_inside(w: &World) {
    let cache = w.cache();
    let token = cache.get_token().unwrap();
    assert_eq!(cache.get_token().unwrap(), token);
    assert!(cache.invalidate(&token).unwrap());
    assert_ne!(cache.force_refresh().unwrap(), token);
    assert_eq!(w.token_calls(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_calls_work_inside_a_current_thread_runtime() {
    blocking_inside(&World::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_calls_work_inside_a_multi_thread_runtime() {
    blocking_inside(&World::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_waiting_or_fetching_task_leaves_no_lock_and_no_litter() {
    let w = World::new();
    w.write_files("EXPIRED", "1");
    // The fetch never answers on its own.
    w.mock
        .set_fault(Some(Fault::Slow(Duration::from_secs(3600))), None);
    let cache = Arc::new(w.cache());
    let fetching = tokio::spawn({
        let cache = cache.clone();
        async move { cache.get_token_async().await }
    });
    while w.token_calls() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A second task queues behind the first.
    let waiting = tokio::spawn({
        let cache = cache.clone();
        async move { cache.get_token_async().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    waiting.abort();
    fetching.abort();
    assert!(fetching.await.unwrap_err().is_cancelled());
    assert!(waiting.await.unwrap_err().is_cancelled());
    w.mock.reset();
    // The lock file is free: another process could take it now.
    let lock = std::fs::File::open(w.dir.path("token.txt.lock")).unwrap();
    fs2::FileExt::try_lock_exclusive(&lock).expect("no lock left held");
    drop(lock);
    // The files are as they were, and nothing half-written lies around.
    assert_eq!(w.read(&w.token_file()), b"EXPIRED");
    let litter: Vec<_> = std::fs::read_dir(w.dir.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(litter.is_empty(), "{litter:?}");
    // And the cache works on.
    let token = cache.get_token_async().await.unwrap();
    assert_ne!(token, "EXPIRED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_refresh_and_invalidate_async() {
    let w = World::new();
    let cache = w.cache();
    let first = cache.get_token_async().await.unwrap();
    let second = cache.force_refresh_async().await.unwrap();
    assert_ne!(first, second);
    assert!(!cache.invalidate_async(&first).await.unwrap());
    assert!(cache.invalidate_async(&second).await.unwrap());
    let third = cache.get_token_async().await.unwrap();
    assert!(third != first && third != second);
    assert_eq!(w.token_calls(), 3);
}

#[test]
fn the_cache_and_its_errors_fit_async_services() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    send_sync_static::<TokenCache>();
    send_sync_static::<wxtoken::Error>();
    // `?` into the boxed errors services use (anyhow converts the same way).
    fn into_boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Err(wxtoken::Error::Passive)?
    }
    assert!(into_boxed().is_err());
    // The future of a miss can be spawned on a multi-thread runtime.
    fn spawnable<F: std::future::Future + Send>(_: F) {}
    let w = World::new();
    let cache = w.cache();
    spawnable(cache.get_token_async());
}

#[test]
fn debug_of_every_public_type_hides_the_secret_and_the_token() {
    let w = World::new();
    let builder = w.builder();
    let config = builder.clone().build().unwrap();
    let cache = w.cache();
    let token = cache.get_token().unwrap();
    let status = cache.status().unwrap();
    let cached = wxtoken::Cached {
        token: token.clone(),
        expires_at: 1,
        written_at: None,
    };
    let fetched = wxtoken::Fetched {
        token: token.clone(),
        expires_in: 7200,
    };
    let errors = [
        w.cache_with(w.builder().secret("wrong_secret_abc"))
            .force_refresh()
            .unwrap_err(),
        wxtoken::Error::Passive,
    ];
    let shown = [
        format!("{builder:?}"),
        format!("{config:?}"),
        format!("{:?}", config.secret()),
        format!("{}", config.secret()),
        format!("{cache:?}"),
        format!("{status:?}"),
        format!("{cached:?}"),
        format!("{fetched:?}"),
        format!("{errors:?}"),
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        format!("{:?}", config.describe()),
    ];
    for text in shown {
        assert!(!text.contains(common::SECRET), "secret in {text}");
        assert!(!text.contains("wrong_secret_abc"), "secret in {text}");
        assert!(!text.contains(&token), "token in {text}");
    }
}
