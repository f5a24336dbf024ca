//! Putting caches together from a configuration: the one place that knows
//! which store and which source each credential gets. The policy
//! (`cache/`) sees only the parts.

use std::sync::{Arc, OnceLock};

use crate::cache::{Policy, Status, TokenCache};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Platform};
use crate::credential::{Credential, TicketKind};
use crate::error::{Error, Result};
use crate::jssdk::JsSdkConfig;
use crate::source::{ticket_source, wechat_api_source, TokenSource};
use crate::store::TokenStore;

/// Builds a [`TokenCache`] with parts other than the defaults.
///
/// ```
/// use std::sync::Arc;
/// use wxtoken::{Config, ManualClock, TokenCache};
/// let config = Config::builder().appid("wx_app").secret("app_secret").build()?;
/// let cache = TokenCache::builder(config)
///     .clock(Arc::new(ManualClock::new(1_700_000_000)))
///     .build();
/// # Ok::<(), wxtoken::Error>(())
/// ```
pub struct TokenCacheBuilder {
    config: Config,
    clock: Option<Arc<dyn Clock>>,
    store: Option<Arc<dyn TokenStore>>,
    source: Option<Arc<dyn TokenSource>>,
    credential: Credential,
    access_token: Option<Arc<TokenCache>>,
}

impl TokenCacheBuilder {
    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The store (default: the one the configuration names, for this
    /// credential: see [`StoreSpec::open`]).
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where new tokens come from (default: the WeChat endpoint of this
    /// credential, as configured).
    pub fn source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// A cache of the JS-SDK ticket of `kind` instead of the access token:
    /// its own files or keys, fetched with the access token of
    /// [`access_token`](Self::access_token) (default: a token cache of the
    /// same configuration).
    ///
    /// ```
    /// # let mock = wechat_mock::MockServer::start().unwrap();
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use wxtoken::{Config, TicketKind, TokenCache};
    /// let config = Config::builder()
    ///     .appid("wx_test_appid")
    ///     .secret("test_secret_0123456789")
    ///     .token_file(dir.path().join("token.txt"))
    ///     .expiry_file(dir.path().join("expiry.txt"))
    /// #   .api_base(mock.url())
    ///     .build()?;
    /// let token = Arc::new(TokenCache::new(config.clone()));
    /// let jsapi = TokenCache::builder(config)
    ///     .ticket(TicketKind::Jsapi)
    ///     .access_token(token)
    ///     .build();
    /// let ticket = jsapi.get_token()?; // fetched with the cached access token
    /// assert!(dir.path().join("jsapi_ticket.txt").exists());
    /// # Ok::<(), wxtoken::Error>(())
    /// ```
    pub fn ticket(mut self, kind: TicketKind) -> Self {
        self.credential = Credential::Ticket(kind);
        self
    }

    /// The access-token cache a ticket cache fetches its tickets with; share
    /// the one the process already has, so both share its single flight.
    pub fn access_token(mut self, cache: Arc<TokenCache>) -> Self {
        self.access_token = Some(cache);
        self
    }

    /// The cache. Nothing is opened, connected or started yet.
    pub fn build(self) -> TokenCache {
        let config = self.config;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let policy = policy_of(&config);
        let store = self.store.unwrap_or_else(|| {
            config
                .store()
                .open(&config.app_key(), self.credential, config.http_timeout())
        });
        let source = self.source.unwrap_or_else(|| match self.credential {
            Credential::AccessToken => wechat_api_source(&config),
            Credential::Ticket(kind) => {
                let token = self.access_token.unwrap_or_else(|| {
                    Arc::new(TokenCache::with_clock(config.clone(), clock.clone()))
                });
                ticket_source(&config, kind, token)
            }
        });
        TokenCache::from_parts(policy, &config.app_key(), clock, store, source)
    }
}

/// The policy a configuration asks for.
fn policy_of(config: &Config) -> Policy {
    Policy {
        refresh_margin: config.refresh_margin(),
        http_timeout: config.http_timeout(),
        passive: config.passive(),
    }
}

impl TokenCache {
    /// A cache of the access token on the wall clock, with the store and
    /// source the configuration names.
    pub fn new(config: Config) -> Self {
        Self::builder(config).build()
    }

    /// A cache on the given clock (tests move time with [`crate::ManualClock`]).
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        Self::builder(config).clock(clock).build()
    }

    /// A builder, to choose the credential, the clock, the store or the
    /// source.
    pub fn builder(config: Config) -> TokenCacheBuilder {
        TokenCacheBuilder {
            config,
            clock: None,
            store: None,
            source: None,
            credential: Credential::AccessToken,
            access_token: None,
        }
    }
}

/// Every credential of one app: its access token and, made on first use,
/// its JS-SDK tickets, each a [`TokenCache`] of its own (own files or keys,
/// own single flight and back-off) fetching with the one access-token cache.
/// Front ends keep one per configuration.
///
/// ```
/// # let mock = wechat_mock::MockServer::start().unwrap();
/// # let dir = tempfile::tempdir().unwrap();
/// use wxtoken::{AppCache, Config, TicketKind};
/// let config = Config::builder()
///     .appid("wx_test_appid")
///     .secret("test_secret_0123456789")
///     .token_file(dir.path().join("token.txt"))
///     .expiry_file(dir.path().join("expiry.txt"))
/// #   .api_base(mock.url())
///     .build()?;
/// let app = AppCache::new(config);
/// let token = app.token().get_token()?;
/// let ticket = app.ticket(TicketKind::Jsapi).get_token()?;
/// let js = app.jssdk_config("https://example.com/page?x=1#top")?;
/// assert_eq!(js.url, "https://example.com/page?x=1");
/// assert_eq!(js.signature.len(), 40);
/// # let _ = (token, ticket);
/// # Ok::<(), wxtoken::Error>(())
/// ```
pub struct AppCache {
    config: Config,
    clock: Arc<dyn Clock>,
    token: Arc<TokenCache>,
    tickets: [OnceLock<Arc<TokenCache>>; TicketKind::ALL.len()],
}

impl std::fmt::Debug for AppCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCache")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl AppCache {
    /// The credentials `config` names, on the wall clock.
    pub fn new(config: Config) -> AppCache {
        AppCache::with_clock(config, Arc::new(SystemClock))
    }

    /// The same on the given clock.
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> AppCache {
        let token = Arc::new(TokenCache::with_clock(config.clone(), clock.clone()));
        AppCache::with_token_cache(config, clock, token)
    }

    /// The same around an access-token cache built elsewhere (with a source
    /// of its own, say): the tickets fetch with it.
    pub fn with_token_cache(
        config: Config,
        clock: Arc<dyn Clock>,
        token: Arc<TokenCache>,
    ) -> AppCache {
        AppCache {
            config,
            clock,
            token,
            tickets: Default::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The access-token cache.
    pub fn token(&self) -> &Arc<TokenCache> {
        &self.token
    }

    /// The cache of the ticket of `kind`, made on first use.
    pub fn ticket(&self, kind: TicketKind) -> &Arc<TokenCache> {
        let slot = &self.tickets[TicketKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is in ALL")];
        slot.get_or_init(|| {
            Arc::new(
                TokenCache::builder(self.config.clone())
                    .clock(self.clock.clone())
                    .ticket(kind)
                    .access_token(self.token.clone())
                    .build(),
            )
        })
    }

    /// The cache of the ticket a front end named (`jsapi`, `wx_card`; on
    /// WeCom `corp`, `agent`): a configuration error for a name this
    /// platform has no ticket of.
    pub fn ticket_named(&self, name: &str) -> Result<&Arc<TokenCache>> {
        Ok(self.ticket(TicketKind::parse_for(name, self.config.platform())?))
    }

    /// The ticket that signs `wx.config`: the jsapi ticket, or WeCom's corp
    /// ticket.
    fn config_ticket(&self) -> TicketKind {
        match self.config.platform() {
            Platform::Mp => TicketKind::Jsapi,
            Platform::WeCom => TicketKind::Corp,
        }
    }

    /// The `wx.config` parameters for the page at `url`: signed with the
    /// jsapi ticket (WeCom: the corp ticket), cached or fetched once, with a
    /// fresh nonce and the time now.
    pub fn jssdk_config(&self, url: &str) -> Result<JsSdkConfig> {
        let ticket = self.ticket(self.config_ticket()).get_token()?;
        JsSdkConfig::sign(self.config.appid(), &ticket, url, self.clock.now())
    }

    /// [`jssdk_config`](Self::jssdk_config) for async code.
    pub async fn jssdk_config_async(&self, url: &str) -> Result<JsSdkConfig> {
        let ticket = self.ticket(self.config_ticket()).get_token_async().await?;
        JsSdkConfig::sign(self.config.appid(), &ticket, url, self.clock.now())
    }

    /// WeCom's `wx.agentConfig` parameters for the page at `url`: signed
    /// with the app's agent ticket; `corpid` and `agentid` included. A
    /// configuration error on other platforms.
    pub fn agent_config(&self, url: &str) -> Result<JsSdkConfig> {
        let Some(agent) = self.config.agentid() else {
            return Err(Error::Config(
                "wx.agentConfig is for WeCom apps (WX_PLATFORM=wecom, WX_AGENTID)".into(),
            ));
        };
        let ticket = self.ticket(TicketKind::Agent).get_token()?;
        let mut signed = JsSdkConfig::sign(self.config.appid(), &ticket, url, self.clock.now())?;
        signed.agent_id = Some(agent.to_string());
        Ok(signed)
    }

    /// What is cached of every credential, without fetching: the access
    /// token's status, then each ticket's that the store holds (present or
    /// expired).
    pub fn statuses(&self) -> Result<Vec<(Credential, Status)>> {
        let mut out = vec![(Credential::AccessToken, self.token.status()?)];
        for kind in TicketKind::of(self.config.platform()) {
            let status = self.ticket(kind).status()?;
            if status.expires_at.is_some() {
                out.push((Credential::Ticket(kind), status));
            }
        }
        Ok(out)
    }
}
