//! The JS-SDK tickets, against the mock over HTTP: cached like the token in
//! their own legacy-format files, fetched with the cached access token, the
//! dead-token retry done once and only once, failures backing off on the
//! injected clock, and the signature as WeChat computes it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use common::World;
use wechat_mock::Fault;
use wxtoken::{AppCache, ErrorKind, TicketKind};

fn app(w: &World) -> AppCache {
    AppCache::with_clock(w.builder().build().unwrap(), Arc::new(w.clock.clone()))
}

#[test]
fn a_ticket_is_fetched_once_with_the_cached_token_into_private_legacy_files() {
    let w = World::new();
    let app = app(&w);
    let started = w.now();
    let ticket = app.ticket(TicketKind::Jsapi).get_token().unwrap();
    let s = w.mock.stats();
    assert_eq!((s.token_calls, s.ticket_calls, s.tickets_issued), (1, 1, 1));
    assert_eq!(s.last_ticket.as_deref(), Some(ticket.as_str()));
    // A second ask, from this cache and from a new one, makes no call.
    assert_eq!(app.ticket(TicketKind::Jsapi).get_token().unwrap(), ticket);
    let other = self::app(&w);
    assert_eq!(other.ticket(TicketKind::Jsapi).get_token().unwrap(), ticket);
    assert_eq!(w.mock.stats().ticket_calls, 1);
    // The legacy layout beside the token: the ticket bare, the expiry decimal.
    let dir = w.token_file().parent().unwrap().to_path_buf();
    assert_eq!(w.read(&dir.join("jsapi_ticket.txt")), ticket.as_bytes());
    assert_eq!(
        String::from_utf8(w.read(&dir.join("jsapi_ticket_expiry.txt"))).unwrap(),
        (started + 7200).to_string()
    );
    for f in ["jsapi_ticket.txt", "jsapi_ticket_expiry.txt"] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // The card ticket is a credential of its own.
    let card = app.ticket(TicketKind::WxCard).get_token().unwrap();
    assert_ne!(card, ticket);
    assert!(dir.join("wx_card_ticket.txt").exists());
    assert_eq!(w.mock.stats().token_calls, 1);
    let kinds: Vec<_> = app
        .statuses()
        .unwrap()
        .iter()
        .map(|(c, _)| c.key())
        .collect();
    assert_eq!(kinds, ["access_token", "jsapi_ticket", "wx_card_ticket"]);
}

#[test]
fn a_revoked_token_is_refreshed_once_and_the_ticket_asked_once_more() {
    let w = World::new();
    let app = app(&w);
    let first = app.ticket(TicketKind::Jsapi).get_token().unwrap();
    let old_token = app.token().get_token().unwrap();
    w.mock.revoke_tokens();
    // The ticket is due (another process would see the same files).
    let dir = w.token_file().parent().unwrap().to_path_buf();
    std::fs::write(dir.join("jsapi_ticket_expiry.txt"), "1").unwrap();
    let before = w.mock.stats();
    let fresh = self::app(&w).ticket(TicketKind::Jsapi).get_token().unwrap();
    let after = w.mock.stats();
    assert_ne!(fresh, first);
    assert_eq!(
        after.token_calls - before.token_calls,
        1,
        "one token refresh"
    );
    assert_eq!(after.ticket_calls - before.ticket_calls, 2, "one retry");
    assert_ne!(app.token().get_token().unwrap(), old_token);
    // Revoked again, and the refreshed token revoked too: never a loop.
    w.mock.revoke_tokens();
    std::fs::write(dir.join("jsapi_ticket_expiry.txt"), "1").unwrap();
    w.mock.set_fault(Some(Fault::Errcode(40125)), None);
    let before = w.mock.stats();
    let e = self::app(&w)
        .ticket(TicketKind::Jsapi)
        .get_token()
        .unwrap_err();
    let after = w.mock.stats();
    assert_eq!(e.errcode(), Some(40125), "{e}");
    assert_eq!(after.ticket_calls - before.ticket_calls, 1);
    assert_eq!(after.token_calls - before.token_calls, 1);
}

#[test]
fn a_failing_ticket_endpoint_backs_off_for_everyone_on_the_injected_clock() {
    for (fault, window) in [(Fault::Errcode(45009), 61), (Fault::Http500, 2)] {
        let w = World::new();
        app(&w).token().get_token().unwrap();
        w.mock.set_ticket_fault(Some(fault.clone()), None);
        // 8 threads x 25 asks, each through a cache of its own (as separate
        // processes would): the clock stands still, so one call in all.
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let app = app(&w);
                    for _ in 0..25 {
                        let e = app.ticket(TicketKind::Jsapi).get_token().unwrap_err();
                        assert_ne!(e.kind(), ErrorKind::Config, "{e}");
                    }
                });
            }
        });
        assert_eq!(w.mock.stats().ticket_calls, 1, "{fault:?}");
        assert_eq!(w.mock.stats().token_calls, 1, "{fault:?}");
        // Past the window (WeChat's minute for 45009, a second or so for a
        // server error), the next ask tries again, once.
        w.clock.advance(window);
        w.mock.set_ticket_fault(None, None);
        app(&w).ticket(TicketKind::Jsapi).get_token().unwrap();
        assert_eq!(w.mock.stats().ticket_calls, 2, "{fault:?}");
    }
}

#[test]
fn passive_mode_never_fetches_a_ticket() {
    let w = World::new();
    let passive = AppCache::with_clock(
        w.builder().passive(true).build().unwrap(),
        Arc::new(w.clock.clone()),
    );
    let e = passive.ticket(TicketKind::Jsapi).get_token().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Passive);
    let s = w.mock.stats();
    assert_eq!((s.token_calls, s.ticket_calls), (0, 0));
    // Once an active process cached it, the passive one reads it.
    let ticket = app(&w).ticket(TicketKind::Jsapi).get_token().unwrap();
    assert_eq!(
        passive.ticket(TicketKind::Jsapi).get_token().unwrap(),
        ticket
    );
}

#[test]
fn the_jssdk_config_is_signed_with_the_cached_ticket() {
    let w = World::new();
    let app = app(&w);
    let a = app
        .jssdk_config("https://example.com/p?a=1&b=2#section")
        .unwrap();
    let b = app.jssdk_config("https://example.com/p?a=1&b=2").unwrap();
    let ticket = app.ticket(TicketKind::Jsapi).get_token().unwrap();
    assert_eq!(a.url, "https://example.com/p?a=1&b=2");
    assert_eq!(a.timestamp, w.now());
    assert_ne!(a.nonce_str, b.nonce_str);
    assert_eq!(
        a.signature,
        wxtoken::jssdk_signature(&ticket, &a.nonce_str, a.timestamp, &a.url)
    );
    let json = serde_json::to_value(&a).unwrap();
    for key in ["appId", "timestamp", "nonceStr", "signature", "url"] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(w.mock.stats().ticket_calls, 1);
}
