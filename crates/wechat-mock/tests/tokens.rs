//! Token issuing, retirement, the business call, credential errors,
//! stable_token, expires_in and reset, over real HTTP.

mod common;

use std::collections::HashSet;

use common::*;
use wechat_mock::{MockConfig, MockServer, DEFAULT_APPID, DEFAULT_SECRET};

#[test]
fn each_call_issues_a_new_unique_token() {
    let mock = MockServer::start().unwrap();
    let mut seen = HashSet::new();
    let mut last = String::new();
    for _ in 0..20 {
        let v = token(&mock);
        assert_eq!(v["expires_in"], 7200, "{v}");
        last = access_token(&v);
        assert!(last.len() >= 100, "token too short: {last}");
        assert!(
            last.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "bad characters in {last}"
        );
        assert!(seen.insert(last.clone()), "token issued twice: {last}");
    }
    let s = mock.stats();
    assert_eq!(s.token_calls, 20);
    assert_eq!(s.tokens_issued, 20);
    assert_eq!(s.last_token.as_deref(), Some(last.as_str()));
}

#[test]
fn two_servers_never_issue_the_same_token() {
    let a = MockServer::start().unwrap();
    let b = MockServer::start().unwrap();
    let ta = access_token(&token(&a));
    let tb = access_token(&token(&b));
    assert_ne!(ta, tb);
    // And one server does not accept the other's token.
    assert_eq!(callback(&b, &ta)["errcode"], 40001);
}

#[test]
fn previous_tokens_retire_five_minutes_after_a_new_one() {
    let mock = MockServer::start().unwrap();
    let first = access_token(&token(&mock));
    assert_eq!(
        callback(&mock, &first)["ip_list"][0],
        "127.0.0.1",
        "fresh token must work"
    );
    let second = access_token(&token(&mock));
    mock.advance(290);
    assert!(callback(&mock, &first)["ip_list"].is_array());
    mock.advance(20);
    let v = callback(&mock, &first);
    assert_eq!(v["errcode"], 42001, "{v}");
    assert_eq!(v["errmsg"], "access_token expired");
    assert!(callback(&mock, &second)["ip_list"].is_array());
    assert_eq!(mock.stats().business_calls, 4);
}

#[test]
fn tokens_expire_after_expires_in() {
    let mock = MockServer::start().unwrap();
    let t = access_token(&token(&mock));
    mock.advance(7190);
    assert!(callback(&mock, &t)["ip_list"].is_array());
    mock.advance(20);
    assert_eq!(callback(&mock, &t)["errcode"], 42001);
}

#[test]
fn unknown_and_missing_tokens() {
    let mock = MockServer::start().unwrap();
    let v = callback(&mock, "not-a-token");
    assert_eq!(v["errcode"], 40001, "{v}");
    assert!(v["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("invalid credential"));
    // Right shape, wrong content.
    let forged = format!("{:020}_{}", 0, "A".repeat(115));
    assert_eq!(callback(&mock, &forged)["errcode"], 40001);
    let r = get(mock.port(), "/cgi-bin/getcallbackip");
    assert_eq!(r.json()["errcode"], 41001);
    let r = get(mock.port(), "/cgi-bin/getcallbackip?access_token=");
    assert_eq!(r.json()["errcode"], 41001);
    assert_eq!(mock.stats().business_calls, 4);
}

#[test]
fn credential_errors_have_wechat_codes_and_never_echo_the_secret() {
    let mock = MockServer::start().unwrap();
    let cases = [
        (token_path("wx_wrong", DEFAULT_SECRET), 40013),
        (token_path(DEFAULT_APPID, "wrong_secret_XYZ"), 40125),
        (
            format!("/cgi-bin/token?grant_type=client_credential&secret={DEFAULT_SECRET}"),
            41002,
        ),
        (
            format!("/cgi-bin/token?grant_type=client_credential&appid={DEFAULT_APPID}"),
            41004,
        ),
        (
            format!(
                "/cgi-bin/token?grant_type=password&appid={DEFAULT_APPID}&secret={DEFAULT_SECRET}"
            ),
            40002,
        ),
        (
            format!("/cgi-bin/token?appid={DEFAULT_APPID}&secret={DEFAULT_SECRET}"),
            40002,
        ),
    ];
    for (path, code) in &cases {
        let r = get(mock.port(), path);
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["errcode"], *code, "{path}: {v}");
        assert!(v["errmsg"].is_string());
        assert!(v.get("access_token").is_none());
        let text = r.text();
        assert!(!text.contains(DEFAULT_SECRET) && !text.contains("wrong_secret_XYZ"));
    }
    let v = get(mock.port(), &token_path("wx_wrong", DEFAULT_SECRET)).json();
    assert_eq!(v["errmsg"], "invalid appid");
    let v = get(mock.port(), &token_path(DEFAULT_APPID, "x")).json();
    assert_eq!(v["errmsg"], "invalid appsecret");
    let s = mock.stats();
    assert_eq!(s.token_calls, cases.len() as u64 + 2, "failures count too");
    assert_eq!(s.tokens_issued, 0);
    assert_eq!(s.last_token, None);
}

#[test]
fn custom_config_is_honoured() {
    let config = MockConfig {
        appid: "wx_custom".into(),
        secret: "s3cr3t".into(),
        expires_in: 60,
        ..MockConfig::default()
    };
    let mock = MockServer::start_with(0, config).unwrap();
    let v = get(mock.port(), &token_path("wx_custom", "s3cr3t")).json();
    assert_eq!(v["expires_in"], 60);
    let t = access_token(&v);
    mock.advance(61);
    assert_eq!(callback(&mock, &t)["errcode"], 42001);
    let v = get(mock.port(), &token_path(DEFAULT_APPID, DEFAULT_SECRET)).json();
    assert_eq!(v["errcode"], 40013);
}

#[test]
fn stable_token_is_reused_with_decreasing_lifetime() {
    let mock = MockServer::start().unwrap();
    let a = stable(&mock, false);
    assert_eq!(a["expires_in"], 7200, "{a}");
    let t = access_token(&a);
    let b = stable(&mock, false);
    assert_eq!(access_token(&b), t);
    mock.advance(100);
    let c = stable(&mock, false);
    assert_eq!(access_token(&c), t);
    assert_eq!(c["expires_in"], 7100, "{c}");
    let s = mock.stats();
    assert_eq!(s.stable_calls, 3);
    assert_eq!(
        s.tokens_issued, 1,
        "reusing the stable token is not an issue"
    );
    assert_eq!(s.last_token.as_deref(), Some(t.as_str()));
    assert!(callback(&mock, &t)["ip_list"].is_array());

    // Past its lifetime a new one is issued.
    mock.advance(7100);
    assert_eq!(callback(&mock, &t)["errcode"], 42001);
    let d = stable(&mock, false);
    assert_ne!(access_token(&d), t);
    assert_eq!(d["expires_in"], 7200);
    assert_eq!(mock.stats().tokens_issued, 2);
}

#[test]
fn force_refresh_issues_a_new_stable_token_and_retires_the_old() {
    let mock = MockServer::start().unwrap();
    let old = access_token(&stable(&mock, false));
    let new = access_token(&stable(&mock, true));
    assert_ne!(old, new);
    assert_eq!(access_token(&stable(&mock, false)), new);
    mock.advance(299);
    assert!(callback(&mock, &old)["ip_list"].is_array());
    mock.advance(2);
    assert_eq!(callback(&mock, &old)["errcode"], 42001);
    assert!(callback(&mock, &new)["ip_list"].is_array());
}

#[test]
fn stable_and_plain_tokens_are_separate_sets() {
    let mock = MockServer::start().unwrap();
    let st = access_token(&stable(&mock, false));
    let plain = access_token(&token(&mock));
    token(&mock);
    mock.advance(301);
    // New plain tokens retired the old plain one but not the stable one.
    assert_eq!(callback(&mock, &plain)["errcode"], 42001);
    assert!(callback(&mock, &st)["ip_list"].is_array());
    assert_eq!(access_token(&stable(&mock, false)), st);
    // And a force-refreshed stable token does not retire plain tokens.
    let plain2 = access_token(&token(&mock));
    stable(&mock, true);
    mock.advance(301);
    assert!(callback(&mock, &plain2)["ip_list"].is_array());
}

#[test]
fn stable_token_errors() {
    let mock = MockServer::start().unwrap();
    let port = mock.port();
    let path = "/cgi-bin/stable_token";
    let code = |r: Reply| {
        assert_eq!(r.status, 200);
        assert!(!r.text().contains(DEFAULT_SECRET));
        r.json()["errcode"].clone()
    };
    assert_eq!(code(post(port, path, "{not json")), 47001);
    assert_eq!(code(post(port, path, "[1,2]")), 47001);
    assert_eq!(code(post(port, path, "")), 47001);
    assert_eq!(
        code(post(
            port,
            path,
            &stable_body("wx_wrong", DEFAULT_SECRET, false)
        )),
        40013
    );
    assert_eq!(
        code(post(port, path, &stable_body(DEFAULT_APPID, "nope", false))),
        40125
    );
    assert_eq!(
        code(post(
            port,
            path,
            &format!(r#"{{"grant_type":"client_credential","secret":"{DEFAULT_SECRET}"}}"#)
        )),
        41002
    );
    assert_eq!(
        code(post(
            port,
            path,
            &format!(r#"{{"grant_type":"client_credential","appid":"{DEFAULT_APPID}"}}"#)
        )),
        41004
    );
    assert_eq!(
        code(post(
            port,
            path,
            &format!(
                r#"{{"grant_type":"x","appid":"{DEFAULT_APPID}","secret":"{DEFAULT_SECRET}"}}"#
            )
        )),
        40002
    );
    assert_eq!(
        code(post(
            port,
            path,
            &format!(
                r#"{{"grant_type":"client_credential","appid":"{DEFAULT_APPID}","secret":"{DEFAULT_SECRET}","force_refresh":"yes"}}"#
            )
        )),
        47001
    );
    assert_eq!(code(get(port, path)), 43002);
    // force_refresh may be omitted.
    let r = post(
        port,
        path,
        &format!(
            r#"{{"grant_type":"client_credential","appid":"{DEFAULT_APPID}","secret":"{DEFAULT_SECRET}"}}"#
        ),
    );
    assert!(r.json()["access_token"].is_string());
    let s = mock.stats();
    assert_eq!(s.stable_calls, 11);
    assert_eq!(s.token_calls, 0);
    assert_eq!(s.tokens_issued, 1);
}

#[test]
fn absurd_expires_in_values_are_passed_through() {
    let mock = MockServer::start().unwrap();
    for secs in [0i64, -5, 10_000_000] {
        mock.set_expires_in(secs);
        let v = token(&mock);
        assert_eq!(v["expires_in"], secs, "{v}");
        let v = stable(&mock, true);
        assert_eq!(v["expires_in"], secs, "{v}");
    }
    // A zero-lifetime token is expired at once.
    mock.set_expires_in(0);
    let t = access_token(&token(&mock));
    assert_eq!(callback(&mock, &t)["errcode"], 42001);
    // The same over HTTP.
    control(&mock, "/mock/expires_in?secs=-5");
    assert_eq!(token(&mock)["expires_in"], -5);
}

#[test]
fn reset_restores_the_initial_state() {
    let mock = MockServer::start().unwrap();
    let old = access_token(&token(&mock));
    mock.set_expires_in(5);
    mock.set_fault(Some(wechat_mock::Fault::Http500), None);
    mock.advance(10_000);
    mock.reset();
    assert_eq!(mock.stats(), wechat_mock::Stats::default());
    let v = token(&mock);
    assert_eq!(v["expires_in"], 7200, "expires_in and fault reset: {v}");
    let new = access_token(&v);
    assert_ne!(new, old);
    assert_eq!(callback(&mock, &old)["errcode"], 40001);
    // The clock offset is gone: the new token is valid for about 7200s.
    mock.advance(7100);
    assert!(callback(&mock, &new)["ip_list"].is_array());
}

#[test]
fn control_endpoints_over_http() {
    let mock = MockServer::start().unwrap();
    let t = access_token(&token(&mock));
    let s = control(&mock, "/mock/stats");
    assert_eq!(s["token_calls"], 1);
    assert_eq!(s["stable_calls"], 0);
    assert_eq!(s["business_calls"], 0);
    assert_eq!(s["tokens_issued"], 1);
    assert_eq!(s["last_token"], t.as_str());
    assert_eq!(s.as_object().unwrap().len(), 9);

    assert_eq!(control(&mock, "/mock/advance?secs=7201")["ok"], true);
    assert_eq!(callback(&mock, &t)["errcode"], 42001);
    assert_eq!(control(&mock, "/mock/expires_in?secs=42")["ok"], true);
    assert_eq!(token(&mock)["expires_in"], 42);
    assert_eq!(control(&mock, "/mock/reset")["ok"], true);
    let s = control(&mock, "/mock/stats");
    assert_eq!(s["token_calls"], 0);
    assert_eq!(s["last_token"], serde_json::Value::Null);

    for bad in [
        "/mock/advance",
        "/mock/advance?secs=abc",
        "/mock/expires_in?secs=",
        "/mock/fault",
        "/mock/fault?kind=bogus",
        "/mock/fault?kind=errcode",
        "/mock/fault?kind=slow&ms=-1",
        "/mock/fault?kind=http500&times=x",
    ] {
        let r = get(mock.port(), bad);
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"].is_string(), "{bad}");
    }
    assert_eq!(get(mock.port(), "/mock/nothing").status, 404);
    assert_eq!(get(mock.port(), "/nothing").status, 404);
}

#[test]
fn tickets_check_the_access_token_like_a_business_call() {
    let mock = MockServer::start().unwrap();
    let ticket = |token: &str, kind: &str| {
        get(
            mock.port(),
            &format!("/cgi-bin/ticket/getticket?access_token={token}&type={kind}"),
        )
        .json()
    };
    let t = access_token(&token(&mock));
    let a = ticket(&t, "jsapi");
    assert_eq!(a["errcode"], 0, "{a}");
    assert_eq!(a["expires_in"], 7200);
    let b = ticket(&t, "wx_card");
    assert_ne!(a["ticket"], b["ticket"]);
    assert!(a["ticket"].as_str().unwrap().starts_with("TICKET_jsapi_"));
    assert_eq!(ticket(&t, "agent")["errcode"], 40097);
    assert_eq!(ticket("", "jsapi")["errcode"], 41001);
    assert_eq!(ticket("never_issued", "jsapi")["errcode"], 40001);
    // Revoked tokens are unknown; the counters stay.
    mock.revoke_tokens();
    assert_eq!(ticket(&t, "jsapi")["errcode"], 40001);
    let s = mock.stats();
    assert_eq!((s.ticket_calls, s.tickets_issued, s.token_calls), (6, 2, 1));
    assert_eq!(s.last_ticket.as_deref(), b["ticket"].as_str());
    // The ticket endpoint's own fault leaves the token endpoint alone.
    assert_eq!(
        control(
            &mock,
            "/mock/fault?kind=errcode&errcode=45009&endpoint=ticket&times=1"
        )["ok"],
        true
    );
    let t = access_token(&token(&mock));
    assert_eq!(ticket(&t, "jsapi")["errcode"], 45009);
    assert_eq!(ticket(&t, "jsapi")["errcode"], 0);
    // Expired tokens: 42001.
    mock.advance(7201);
    assert_eq!(ticket(&t, "jsapi")["errcode"], 42001);
}

#[test]
fn wecom_apps_of_one_corp_have_their_own_tokens() {
    let mock = MockServer::start().unwrap();
    let gettoken = |corp: &str, secret: &str| {
        get(
            mock.port(),
            &format!("/cgi-bin/gettoken?corpid={corp}&corpsecret={secret}"),
        )
        .json()
    };
    let [(_, sa), (_, sb)] = wechat_mock::DEFAULT_CORP_APPS;
    let a1 = access_token(&gettoken(wechat_mock::DEFAULT_CORPID, sa));
    let b1 = access_token(&gettoken(wechat_mock::DEFAULT_CORPID, sb));
    let a2 = access_token(&gettoken(wechat_mock::DEFAULT_CORPID, sa));
    // a2 retires a1 in five minutes; b1 is not touched.
    mock.advance(301);
    assert_eq!(callback(&mock, &a1)["errcode"], 42001);
    assert!(callback(&mock, &b1)["ip_list"].is_array());
    assert!(callback(&mock, &a2)["ip_list"].is_array());
    assert_eq!(
        gettoken(wechat_mock::DEFAULT_CORPID, "wrong")["errcode"],
        40001
    );
    assert_eq!(gettoken("ww_other", sa)["errcode"], 40013);
    assert_eq!(gettoken("", sa)["errcode"], 41002);
    assert_eq!(gettoken(wechat_mock::DEFAULT_CORPID, "")["errcode"], 41004);
    let s = mock.stats();
    assert_eq!((s.gettoken_calls, s.token_calls), (7, 0));
    let t = |path: &str| get(mock.port(), path).json();
    let corp = t(&format!("/cgi-bin/get_jsapi_ticket?access_token={a2}"));
    assert!(
        corp["ticket"].as_str().unwrap().starts_with("TICKET_corp_"),
        "{corp}"
    );
    let agent = t(&format!(
        "/cgi-bin/ticket/get?access_token={a2}&type=agent_config"
    ));
    assert!(
        agent["ticket"]
            .as_str()
            .unwrap()
            .starts_with("TICKET_agent_"),
        "{agent}"
    );
    assert_eq!(
        t(&format!("/cgi-bin/ticket/get?access_token={a2}&type=x"))["errcode"],
        40097
    );
    assert_eq!(
        t("/cgi-bin/get_jsapi_ticket?access_token=nope")["errcode"],
        40014
    );
    assert_eq!(
        t(&format!("/cgi-bin/get_jsapi_ticket?access_token={a1}"))["errcode"],
        42001
    );
}
