//! Everything the mock remembers: issued tokens and their expiry, the clock
//! offset, the switchable fault, the `expires_in` setting and the counters.
//!
//! This module knows nothing about HTTP; the server keeps one [`State`]
//! behind a mutex and the endpoint handlers call into it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::token::TokenMint;

/// Default `appid` the mock accepts.
pub const DEFAULT_APPID: &str = "wx_test_appid";
/// The `appid` setting that accepts any appid.
pub const ANY_APPID: &str = "*";
/// Default `secret` the mock accepts.
pub const DEFAULT_SECRET: &str = "test_secret_0123456789";
/// Default WeCom corp id the mock accepts at `/cgi-bin/gettoken`.
pub const DEFAULT_CORPID: &str = "ww_test_corpid";
/// Default WeCom apps of that corp: `(agent id, secret)`.
pub const DEFAULT_CORP_APPS: [(&str, &str); 2] = [
    ("1000002", "wecom_secret_app_a_0123"),
    ("1000003", "wecom_secret_app_b_0123"),
];
/// Default lifetime of a token in seconds, as WeChat uses.
pub const DEFAULT_EXPIRES_IN: i64 = 7200;
/// How long a token stays usable after a newer one replaced it (WeChat keeps
/// the old one alive for five minutes so running requests can finish).
pub const RETIRE_GRACE_SECS: i64 = 300;

/// The credentials the mock accepts and the token lifetime it hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// The only `appid` accepted; any other gets errcode 40013. [`ANY_APPID`]
    /// accepts every appid (with the one secret), so a single mock can stand
    /// in for thousands of apps in the daemon's scale tests.
    pub appid: String,
    /// The only `secret` accepted; any other gets errcode 40125.
    pub secret: String,
    /// `expires_in` put into every token answer and used as the token
    /// lifetime. Any integer is allowed (0 or negative make tokens that are
    /// expired at once), so clients can be tested against absurd values.
    pub expires_in: i64,
    /// The WeCom corp id `/cgi-bin/gettoken` accepts; any other gets 40013.
    pub corp_id: String,
    /// The corp's apps, `(agent id, secret)`: each secret gets its own app's
    /// tokens; any other secret gets 40001, as WeCom answers.
    pub corp_apps: Vec<(String, String)>,
}

impl Default for MockConfig {
    /// `wx_test_appid` / `test_secret_0123456789`, 7200 seconds.
    fn default() -> Self {
        Self {
            appid: DEFAULT_APPID.to_string(),
            secret: DEFAULT_SECRET.to_string(),
            expires_in: DEFAULT_EXPIRES_IN,
            corp_id: DEFAULT_CORPID.to_string(),
            corp_apps: DEFAULT_CORP_APPS
                .iter()
                .map(|(a, s)| (a.to_string(), s.to_string()))
                .collect(),
        }
    }
}

/// A misbehaviour of the token endpoints (`/cgi-bin/token` and
/// `/cgi-bin/stable_token`), switched on with `MockServer::set_fault` or
/// `/mock/fault`. While a fault is active no token is issued, except for
/// [`Fault::Slow`], which answers normally after the delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 200 with `{"errcode":N,"errmsg":"..."}`, e.g. -1 (system busy),
    /// 45009 (daily quota), 45011 (minute quota), 40164 (IP not in
    /// whitelist), 61004 (client IP not registered), 40243 (secret frozen).
    Errcode(i64),
    /// HTTP 500 with a small JSON body that is not a WeChat answer.
    Http500,
    /// HTTP 200 with a body that is not valid JSON (`{"access_token":`).
    InvalidJson,
    /// Headers announce `Content-Length: 200` but only part of a JSON body
    /// is sent before the connection is closed.
    Truncated,
    /// HTTP 200 with `{"expires_in":7200}`: valid JSON without the token.
    MissingField,
    /// HTTP 200 with a 1 MiB body that is well-formed token JSON whose
    /// `access_token` is about a megabyte long, to check that clients cap
    /// what they read.
    Oversized,
    /// Wait this long, then answer normally (to test client timeouts).
    Slow(Duration),
}

/// Counters and the last token handed out, as returned by
/// `MockServer::stats` and `/mock/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests to `/cgi-bin/token`, failures and faults included.
    pub token_calls: u64,
    /// Requests to `/cgi-bin/stable_token`, failures and faults included.
    pub stable_calls: u64,
    /// Requests to the business API (`/cgi-bin/getcallbackip`).
    pub business_calls: u64,
    /// New tokens created by either token endpoint. A stable_token call that
    /// returns the still-valid current token does not count.
    pub tokens_issued: u64,
    /// The token in the most recent successful answer of either token
    /// endpoint, `None` if there was none since start or reset.
    pub last_token: Option<String>,
    /// Requests to the ticket endpoints (`/cgi-bin/ticket/getticket`, and
    /// WeCom's `/cgi-bin/get_jsapi_ticket` and `/cgi-bin/ticket/get`),
    /// failures and faults included.
    pub ticket_calls: u64,
    /// Tickets handed out by `/cgi-bin/ticket/getticket`.
    pub tickets_issued: u64,
    /// The ticket in the most recent successful ticket answer.
    pub last_ticket: Option<String>,
    /// Requests to WeCom's `/cgi-bin/gettoken`, failures and faults included.
    pub gettoken_calls: u64,
}

/// What a token endpoint hands back on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token.
    pub access_token: String,
    /// Seconds to put into the answer's `expires_in`.
    pub expires_in: i64,
}

/// What the business API thinks of a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Issued and still valid.
    Valid,
    /// Issued (since the last reset) but expired or retired: errcode 42001.
    Expired,
    /// Never issued by this server (or issued before a reset): errcode 40001.
    Unknown,
}

/// The credential fields of a token request, as the client sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// `grant_type`; must be `client_credential`.
    pub grant_type: Option<&'a str>,
    /// `appid`.
    pub appid: Option<&'a str>,
    /// `secret`.
    pub secret: Option<&'a str>,
}

/// The whole mutable state of one mock server.
#[derive(Debug)]
pub struct State {
    config: MockConfig,
    mint: TokenMint,
    expires_in: i64,
    offset_ms: i64,
    stats: Stats,
    fault: Option<Fault>,
    /// Calls the fault still applies to; `None` = until changed.
    fault_left: Option<u32>,
    /// Serials are never reused, not even across a reset, so no token
    /// string is ever handed out twice by one server.
    next_serial: u64,
    /// First serial of the current generation; older ones were reset away
    /// and count as unknown.
    first_serial: u64,
    /// Expiry (mock ms) of tokens of both sets that may still be valid, by
    /// serial. The sets differ only in who retires whom (`unretired_plain`,
    /// `stable`). Expired ones are pruned now and then; they are still
    /// recognised through the mint.
    live: HashMap<u64, i64>,
    /// Prune `live` when it reaches this size (doubles, so pruning is
    /// amortised O(1) per issue).
    prune_at: usize,
    /// Plain tokens not yet given their retirement deadline. Once retired a
    /// token's deadline can only move later on the next issue, and `min`
    /// keeps the earlier one, so only these need touching: O(1) per issue.
    unretired_plain: Vec<u64>,
    /// Serial of the current stable token, if one was issued.
    stable: Option<u64>,
    /// WeCom tokens not yet given their retirement deadline, per agent id:
    /// a new token retires only its own app's earlier ones.
    unretired_wecom: HashMap<String, Vec<u64>>,
    /// The fault of the ticket endpoint, apart from the token endpoints'.
    ticket_fault: Option<Fault>,
    /// Ticket calls `ticket_fault` still applies to; `None` = until changed.
    ticket_fault_left: Option<u32>,
}

const MIN_PRUNE_AT: usize = 256;

impl State {
    /// Fresh state for `config`.
    pub fn new(config: MockConfig) -> Self {
        Self {
            expires_in: config.expires_in,
            config,
            mint: TokenMint::new(),
            offset_ms: 0,
            stats: Stats::default(),
            fault: None,
            fault_left: None,
            next_serial: 0,
            first_serial: 0,
            live: HashMap::new(),
            prune_at: MIN_PRUNE_AT,
            unretired_plain: Vec::new(),
            stable: None,
            unretired_wecom: HashMap::new(),
            ticket_fault: None,
            ticket_fault_left: None,
        }
    }

    /// The mock's "now" in milliseconds since the epoch: wall clock plus the
    /// offset added by [`State::advance`].
    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        wall.saturating_add(self.offset_ms)
    }

    /// Counts a request to `/cgi-bin/token`.
    pub fn count_token_call(&mut self) {
        self.stats.token_calls += 1;
    }

    /// Counts a request to `/cgi-bin/stable_token`.
    pub fn count_stable_call(&mut self) {
        self.stats.stable_calls += 1;
    }

    /// Counts a request to the business API.
    pub fn count_business_call(&mut self) {
        self.stats.business_calls += 1;
    }

    /// The fault to apply to this token-endpoint call, if any, using up one
    /// of its remaining `times`.
    pub fn take_fault(&mut self) -> Option<Fault> {
        let fault = self.fault.clone()?;
        if let Some(left) = self.fault_left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.fault = None;
                self.fault_left = None;
            }
        }
        Some(fault)
    }

    /// Sets (or with `None` clears) the fault, for the next `times` calls or
    /// until changed. `times == Some(0)` clears it too.
    pub fn set_fault(&mut self, fault: Option<Fault>, times: Option<u32>) {
        if fault.is_none() || times == Some(0) {
            self.fault = None;
            self.fault_left = None;
        } else {
            self.fault = fault;
            self.fault_left = times;
        }
    }

    /// Sets the `expires_in` of tokens issued from now on.
    pub fn set_expires_in(&mut self, secs: i64) {
        self.expires_in = secs;
    }

    /// The `expires_in` currently put into answers.
    pub fn expires_in(&self) -> i64 {
        self.expires_in
    }

    /// Moves the mock clock by `secs` (negative moves it back; tokens already
    /// pruned as expired stay expired).
    pub fn advance(&mut self, secs: i64) {
        self.offset_ms = self.offset_ms.saturating_add(secs.saturating_mul(1000));
    }

    /// Back to the state right after start: counters, tokens, fault, clock
    /// offset and `expires_in`. Tokens issued before are unknown afterwards.
    pub fn reset(&mut self) {
        self.expires_in = self.config.expires_in;
        self.offset_ms = 0;
        self.stats = Stats::default();
        self.fault = None;
        self.fault_left = None;
        self.revoke_tokens();
        self.ticket_fault = None;
        self.ticket_fault_left = None;
    }

    /// Every access token issued so far becomes unknown (40001), as after a
    /// secret reset, without touching the counters or the fault.
    pub fn revoke_tokens(&mut self) {
        self.first_serial = self.next_serial;
        self.live.clear();
        self.prune_at = MIN_PRUNE_AT;
        self.unretired_plain.clear();
        self.unretired_wecom.clear();
        self.stable = None;
    }

    /// Counts a request to WeCom's `/cgi-bin/gettoken`.
    pub fn count_gettoken_call(&mut self) {
        self.stats.gettoken_calls += 1;
    }

    /// Checks a `/cgi-bin/gettoken` request in WeCom's order and returns the
    /// agent id of the app whose secret it is, or the errcode.
    pub fn check_corp(&self, corpid: Option<&str>, secret: Option<&str>) -> Result<String, i64> {
        let corpid = corpid.filter(|s| !s.is_empty()).ok_or(41002)?;
        let secret = secret.filter(|s| !s.is_empty()).ok_or(41004)?;
        if corpid != self.config.corp_id {
            return Err(40013);
        }
        self.config
            .corp_apps
            .iter()
            .find(|(_, s)| s == secret)
            .map(|(agent, _)| agent.clone())
            .ok_or(40001)
    }

    /// Issues a new token for the WeCom app `agent`, retiring that app's
    /// earlier ones (and only those) five minutes from now.
    pub fn issue_wecom(&mut self, agent: &str) -> Grant {
        let now = self.now_ms();
        let deadline = now.saturating_add(RETIRE_GRACE_SECS * 1000);
        let earlier = self.unretired_wecom.remove(agent).unwrap_or_default();
        for serial in earlier {
            self.cap_expiry(serial, deadline);
        }
        let serial = self.mint_entry(now);
        self.unretired_wecom.insert(agent.to_string(), vec![serial]);
        self.grant(serial, self.expires_in)
    }

    /// Counts a request to the ticket endpoint and returns the fault to
    /// apply to it, if any, using up one of its remaining `times`.
    pub fn begin_ticket_call(&mut self) -> Option<Fault> {
        self.stats.ticket_calls += 1;
        let fault = self.ticket_fault.clone()?;
        if let Some(left) = self.ticket_fault_left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.ticket_fault = None;
                self.ticket_fault_left = None;
            }
        }
        Some(fault)
    }

    /// Sets (or with `None` clears) the ticket endpoint's fault, for the next
    /// `times` calls or until changed.
    pub fn set_ticket_fault(&mut self, fault: Option<Fault>, times: Option<u32>) {
        if fault.is_none() || times == Some(0) {
            self.ticket_fault = None;
            self.ticket_fault_left = None;
        } else {
            self.ticket_fault = fault;
            self.ticket_fault_left = times;
        }
    }

    /// A new ticket of `kind` (`jsapi`, `wx_card`), with the lifetime of
    /// tokens.
    pub fn issue_ticket(&mut self, kind: &str) -> Grant {
        self.stats.tickets_issued += 1;
        let serial = self.next_serial;
        self.next_serial += 1;
        // Ticket-shaped (WeChat's are about 86 characters), unique per server.
        let ticket = format!("TICKET_{kind}_{}", self.mint.make(serial));
        self.stats.last_ticket = Some(ticket.clone());
        Grant {
            access_token: ticket,
            expires_in: self.expires_in,
        }
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    /// Checks the fields of a token request in WeChat's order and returns
    /// the errcode of the first problem.
    pub fn check_credentials(&self, c: Credentials<'_>) -> Result<(), i64> {
        // An empty value counts as missing, as with WeChat.
        fn present(v: Option<&str>) -> Option<&str> {
            v.filter(|s| !s.is_empty())
        }
        if c.grant_type != Some("client_credential") {
            return Err(40002);
        }
        let appid = present(c.appid).ok_or(41002)?;
        let secret = present(c.secret).ok_or(41004)?;
        if self.config.appid != ANY_APPID && appid != self.config.appid {
            return Err(40013);
        }
        if secret != self.config.secret {
            return Err(40125);
        }
        Ok(())
    }

    /// Issues a new `/cgi-bin/token` token and retires all earlier ones of
    /// that set five minutes from now.
    pub fn issue_plain(&mut self) -> Grant {
        let now = self.now_ms();
        let deadline = now.saturating_add(RETIRE_GRACE_SECS * 1000);
        for serial in std::mem::take(&mut self.unretired_plain) {
            self.cap_expiry(serial, deadline);
        }
        let serial = self.mint_entry(now);
        self.unretired_plain.push(serial);
        self.grant(serial, self.expires_in)
    }

    /// Answers a `/cgi-bin/stable_token` call: the current stable token with
    /// its remaining lifetime while it is valid and `force_refresh` is false;
    /// otherwise a new one, retiring the previous one five minutes from now.
    pub fn stable(&mut self, force_refresh: bool) -> Grant {
        let now = self.now_ms();
        if let Some(serial) = self.stable {
            let remaining_ms = self
                .live
                .get(&serial)
                .map_or(0, |exp| exp.saturating_sub(now));
            if remaining_ms > 0 && !force_refresh {
                // Round up so a token issued a moment ago reports the full
                // lifetime, as WeChat does, and never reports 0 while valid.
                let secs = remaining_ms / 1000 + i64::from(remaining_ms % 1000 != 0);
                return self.grant(serial, secs);
            }
            if remaining_ms > 0 {
                self.cap_expiry(serial, now.saturating_add(RETIRE_GRACE_SECS * 1000));
            }
        }
        let serial = self.mint_entry(now);
        self.stable = Some(serial);
        self.grant(serial, self.expires_in)
    }

    /// What the business API should say about `token`.
    pub fn check_token(&self, token: &str) -> TokenStatus {
        let Some(serial) = self.mint.serial_of(token) else {
            return TokenStatus::Unknown;
        };
        if serial < self.first_serial || serial >= self.next_serial {
            return TokenStatus::Unknown;
        }
        match self.live.get(&serial) {
            Some(&exp) if exp > self.now_ms() => TokenStatus::Valid,
            _ => TokenStatus::Expired,
        }
    }

    /// Creates a token entry, counting it as issued.
    fn mint_entry(&mut self, now: i64) -> u64 {
        self.prune(now);
        let serial = self.next_serial;
        self.next_serial += 1;
        let expires_at_ms = now.saturating_add(self.expires_in.saturating_mul(1000));
        self.live.insert(serial, expires_at_ms);
        self.stats.tokens_issued += 1;
        serial
    }

    /// Builds the success answer and remembers it as the last token.
    fn grant(&mut self, serial: u64, expires_in: i64) -> Grant {
        let access_token = self.mint.make(serial);
        self.stats.last_token = Some(access_token.clone());
        Grant {
            access_token,
            expires_in,
        }
    }

    /// Lowers a token's expiry to `deadline` if that is earlier.
    fn cap_expiry(&mut self, serial: u64, deadline: i64) {
        if let Some(exp) = self.live.get_mut(&serial) {
            *exp = (*exp).min(deadline);
        }
    }

    /// Forgets expired tokens once the map has grown enough to be worth it.
    fn prune(&mut self, now: i64) {
        if self.live.len() < self.prune_at {
            return;
        }
        self.live.retain(|_, &mut exp| exp > now);
        self.prune_at = (self.live.len() * 2).max(MIN_PRUNE_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds<'a>(appid: &'a str, secret: &'a str) -> Credentials<'a> {
        Credentials {
            grant_type: Some("client_credential"),
            appid: Some(appid),
            secret: Some(secret),
        }
    }

    #[test]
    fn credential_errors_in_order() {
        let s = State::new(MockConfig::default());
        assert_eq!(
            s.check_credentials(creds(DEFAULT_APPID, DEFAULT_SECRET)),
            Ok(())
        );
        assert_eq!(s.check_credentials(Credentials::default()), Err(40002));
        let mut c = creds("", DEFAULT_SECRET);
        assert_eq!(s.check_credentials(c), Err(41002));
        c = creds(DEFAULT_APPID, "");
        assert_eq!(s.check_credentials(c), Err(41004));
        assert_eq!(
            s.check_credentials(creds("wx_other", DEFAULT_SECRET)),
            Err(40013)
        );
        let any = State::new(MockConfig {
            appid: ANY_APPID.into(),
            ..MockConfig::default()
        });
        assert_eq!(
            any.check_credentials(creds("wx_any_other", DEFAULT_SECRET)),
            Ok(())
        );
        assert_eq!(
            any.check_credentials(creds("wx_any_other", "nope")),
            Err(40125)
        );
        assert_eq!(
            s.check_credentials(creds(DEFAULT_APPID, "nope")),
            Err(40125)
        );
    }

    #[test]
    fn plain_tokens_retire_after_grace() {
        let mut s = State::new(MockConfig::default());
        let a = s.issue_plain().access_token;
        let b = s.issue_plain().access_token;
        assert_ne!(a, b);
        assert_eq!(s.check_token(&a), TokenStatus::Valid);
        s.advance(RETIRE_GRACE_SECS - 5);
        assert_eq!(s.check_token(&a), TokenStatus::Valid);
        s.advance(10);
        assert_eq!(s.check_token(&a), TokenStatus::Expired);
        assert_eq!(s.check_token(&b), TokenStatus::Valid);
        assert_eq!(s.stats().tokens_issued, 2);
    }

    #[test]
    fn a_later_issue_does_not_extend_an_earlier_deadline() {
        let mut s = State::new(MockConfig::default());
        let a = s.issue_plain().access_token;
        s.issue_plain();
        s.advance(200);
        s.issue_plain(); // would give `a` now+300 if it were rescanned
        s.advance(150);
        assert_eq!(s.check_token(&a), TokenStatus::Expired);
    }

    #[test]
    fn reset_forgets_tokens_but_never_reuses_strings() {
        let mut s = State::new(MockConfig::default());
        let a = s.issue_plain().access_token;
        s.reset();
        assert_eq!(s.check_token(&a), TokenStatus::Unknown);
        let b = s.issue_plain().access_token;
        assert_ne!(a, b);
        assert_eq!(s.stats().tokens_issued, 1);
    }

    #[test]
    fn pruning_keeps_expired_tokens_recognisable() {
        let mut s = State::new(MockConfig::default());
        let first = s.issue_plain().access_token;
        for _ in 0..(MIN_PRUNE_AT * 3) {
            s.issue_plain();
            // Each retired token is past its grace period by the next issue.
            s.advance(RETIRE_GRACE_SECS + 1);
        }
        assert!(s.live.len() <= MIN_PRUNE_AT, "{} live", s.live.len());
        assert_eq!(s.check_token(&first), TokenStatus::Expired);
    }

    #[test]
    fn fault_times_run_out() {
        let mut s = State::new(MockConfig::default());
        s.set_fault(Some(Fault::Http500), Some(2));
        assert_eq!(s.take_fault(), Some(Fault::Http500));
        assert_eq!(s.take_fault(), Some(Fault::Http500));
        assert_eq!(s.take_fault(), None);
        s.set_fault(Some(Fault::InvalidJson), None);
        for _ in 0..5 {
            assert_eq!(s.take_fault(), Some(Fault::InvalidJson));
        }
        s.set_fault(Some(Fault::InvalidJson), Some(0));
        assert_eq!(s.take_fault(), None);
    }

    #[test]
    fn absurd_expiry_values_do_not_overflow() {
        let mut s = State::new(MockConfig::default());
        s.set_expires_in(i64::MAX);
        let t = s.issue_plain();
        assert_eq!(t.expires_in, i64::MAX);
        s.set_expires_in(i64::MIN);
        let u = s.stable(false);
        assert_eq!(u.expires_in, i64::MIN);
        assert_eq!(s.check_token(&u.access_token), TokenStatus::Expired);
        s.advance(i64::MAX);
        s.advance(i64::MAX);
        let _ = s.now_ms();
    }
}
