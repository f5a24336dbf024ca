//! Passive readers need only the app id: the secret stays with the refresher
//! (`wxtoken daemon`), and a passive configuration without one reads what
//! the refresher stored, yet can never send a request.

use wxtoken::{Config, ErrorKind, TokenCache};

#[test]
fn a_passive_reader_without_a_secret_reads_the_refreshers_token() {
    let mock = wechat_mock::MockServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = |b: wxtoken::ConfigBuilder| {
        b.token_file(dir.path().join("token.txt"))
            .expiry_file(dir.path().join("expiry.txt"))
            .api_base(mock.url())
    };
    let refresher = TokenCache::new(
        files(Config::builder().appid(wechat_mock::DEFAULT_APPID))
            .secret(wechat_mock::DEFAULT_SECRET)
            .build()
            .unwrap(),
    );
    let reader_config = files(Config::builder().appid(wechat_mock::DEFAULT_APPID))
        .passive(true)
        .build()
        .expect("passive needs no secret");
    let reader = TokenCache::new(reader_config.clone());
    // Nothing stored yet: the passive error, and no request.
    assert_eq!(reader.get_token().unwrap_err().kind(), ErrorKind::Passive);
    assert_eq!(mock.stats().token_calls, 0);
    let token = refresher.get_token().unwrap();
    assert_eq!(reader.get_token().unwrap(), token);
    assert_eq!(mock.stats().token_calls, 1);
    // Whatever would send the secret is a configuration error, not a request.
    let e = reader_config.current_secret().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("WX_APPSECRET"), "{e}");
    assert_eq!(mock.stats().token_calls, 1);
}

#[test]
fn an_active_configuration_still_needs_the_secret() {
    let e = Config::builder().appid("wx_app").build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("app secret is required"), "{e}");
    let e = Config::builder()
        .appid("wx_app")
        .secret("")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("app secret is empty"), "{e}");
}
