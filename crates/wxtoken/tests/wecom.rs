//! WeCom (企业微信) against the mock over HTTP: each app of a corp has its own
//! token, files and keys; a wrong secret is a configuration error at once;
//! the corp and agent tickets are cached and signed like the JS-SDK ticket.

mod common;

use std::sync::Arc;

use common::World;
use wxtoken::{AppCache, ConfigBuilder, ErrorKind, Platform, TicketKind};

const CORP: &str = wechat_mock::DEFAULT_CORPID;

fn app_builder(w: &World, agent: usize) -> ConfigBuilder {
    let (agentid, secret) = wechat_mock::DEFAULT_CORP_APPS[agent];
    wxtoken::Config::builder()
        .appid(CORP)
        .secret(secret)
        .platform(Platform::WeCom)
        .agentid(agentid)
        .api_base(w.mock.url())
        .ticket_dir(w.dir.0.path())
        .http_timeout(std::time::Duration::from_secs(60))
}

/// An app's cache with its default file names, in the world's directory.
fn app(w: &World, agent: usize) -> AppCache {
    let (agentid, _) = wechat_mock::DEFAULT_CORP_APPS[agent];
    let b = app_builder(w, agent)
        .token_file(w.dir.path(&format!("token_{agentid}.txt")))
        .expiry_file(w.dir.path(&format!("expiry_{agentid}.txt")));
    AppCache::with_clock(b.build().unwrap(), Arc::new(w.clock.clone()))
}

fn valid_at_mock(w: &World, token: &str) -> bool {
    let url = format!(
        "{}/cgi-bin/getcallbackip?access_token={token}",
        w.mock.url()
    );
    reqwest::blocking::get(url)
        .unwrap()
        .text()
        .unwrap()
        .contains("ip_list")
}

#[test]
fn two_apps_of_one_corp_keep_their_own_tokens() {
    let w = World::new();
    let a = app(&w, 0);
    let ta = a.token().get_token().unwrap();
    assert_eq!(w.mock.stats().gettoken_calls, 1);
    assert_eq!(a.token().get_token().unwrap(), ta, "a hit");
    let b = app(&w, 1);
    let tb = b.token().get_token().unwrap();
    assert_ne!(ta, tb);
    assert_eq!(w.mock.stats().gettoken_calls, 2);
    // Neither retired the other.
    assert!(valid_at_mock(&w, &ta) && valid_at_mock(&w, &tb));
    assert_eq!(w.read(&w.dir.path("token_1000002.txt")), ta.as_bytes());
    assert_eq!(w.read(&w.dir.path("token_1000003.txt")), tb.as_bytes());
    assert_eq!(
        w.mock.stats().token_calls,
        0,
        "never the official-account endpoint"
    );
}

#[test]
fn default_files_carry_the_agent_id() {
    let w = World::new();
    let c = app_builder(&w, 0).build().unwrap();
    assert_eq!(c.token_file(), std::path::Path::new("token_1000002.txt"));
    assert_eq!(c.expiry_file(), std::path::Path::new("expiry_1000002.txt"));
    assert_eq!(c.app_key(), format!("{CORP}:1000002"));
    assert_eq!(
        wxtoken::Config::builder()
            .appid(CORP)
            .secret("s")
            .platform(Platform::WeCom)
            .agentid("7")
            .build()
            .unwrap()
            .api_base(),
        ["https://qyapi.weixin.qq.com"]
    );
    for (b, name) in [
        (app_builder(&w, 0).agentid(""), "WX_AGENTID"),
        (app_builder(&w, 0).agentid("12a"), "WX_AGENTID"),
        (
            app_builder(&w, 0).mode(wxtoken::Mode::Stable),
            "WX_TOKEN_MODE",
        ),
        (w.builder().agentid("1000002"), "WX_AGENTID"),
    ] {
        let e = b.build().unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn a_wrong_secret_is_a_configuration_error_after_one_call() {
    let w = World::new();
    let bad = AppCache::with_clock(
        app_builder(&w, 0)
            .secret("not_the_apps_secret_987")
            .token_file(w.token_file())
            .expiry_file(w.expiry_file())
            .build()
            .unwrap(),
        Arc::new(w.clock.clone()),
    );
    let e = bad.token().get_token().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert_eq!(e.errcode(), Some(40001));
    assert!(!e.to_string().contains("not_the_apps_secret_987"), "{e}");
    assert!(e.to_string().contains("check the app secret"), "{e}");
    // Backed off (for these credentials only): no second call.
    let again = bad.token().get_token().unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Config);
    assert_eq!(w.mock.stats().gettoken_calls, 1);
    // A wrong corp id: 40013.
    let wrong_corp = app_builder(&w, 0)
        .appid("ww_wrong")
        .token_file(w.dir.path("wrong.txt"))
        .expiry_file(w.dir.path("wrong_expiry.txt"));
    let e = AppCache::new(wrong_corp.build().unwrap())
        .token()
        .get_token()
        .unwrap_err();
    assert_eq!((e.kind(), e.errcode()), (ErrorKind::Config, Some(40013)));
}

#[test]
fn corp_and_agent_tickets_are_cached_and_signed() {
    let w = World::new();
    let a = app(&w, 0);
    let corp = a.ticket(TicketKind::Corp).get_token().unwrap();
    let agent = a.ticket(TicketKind::Agent).get_token().unwrap();
    assert!(corp.starts_with("TICKET_corp_") && agent.starts_with("TICKET_agent_"));
    let s = w.mock.stats();
    assert_eq!((s.gettoken_calls, s.ticket_calls), (1, 2));
    assert_eq!(a.ticket_named("jsapi").unwrap().get_token().unwrap(), corp);
    assert_eq!(
        app(&w, 0).ticket(TicketKind::Agent).get_token().unwrap(),
        agent
    );
    assert_eq!(w.mock.stats().ticket_calls, 2, "cached");
    assert!(w.dir.path("agent_ticket_1000002.txt").exists());
    assert!(w.dir.path("corp_ticket_1000002.txt").exists());
    assert!(a.ticket_named("wx_card").is_err());
    let c = a.jssdk_config("https://work.example.com/p#x").unwrap();
    assert_eq!(
        c.signature,
        wxtoken::jssdk_signature(&corp, &c.nonce_str, c.timestamp, &c.url)
    );
    let g = a.agent_config("https://work.example.com/p#x").unwrap();
    assert_eq!(
        g.signature,
        wxtoken::jssdk_signature(&agent, &g.nonce_str, g.timestamp, &g.url)
    );
    let json = serde_json::to_value(&g).unwrap();
    assert_eq!(json["corpid"], CORP);
    assert_eq!(json["agentid"], "1000002");
    assert!(json.get("appId").is_none());
    // The second app's agent ticket is its own.
    let other = app(&w, 1).ticket(TicketKind::Agent).get_token().unwrap();
    assert_ne!(other, agent);
    assert!(AppCache::new(w.builder().build().unwrap())
        .agent_config("https://e.com/")
        .is_err());
}
