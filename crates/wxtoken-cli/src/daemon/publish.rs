//! Publishing an app's token into the Redis keys other WeChat SDKs read, so
//! that services written with them find a valid token and never fetch one
//! themselves (each SDK refreshing on its own retires everyone else's token).
//!
//! The formats, checked against each SDK's source (see README, "Feeding
//! other SDKs"):
//!
//! | SDK | key | value | TTL |
//! |---|---|---|---|
//! | WxJava (`WxMpRedisConfigImpl`, Jedis or `StringRedisTemplate`) | `{prefix}:access_token:{appid}`, prefix `wx` by default | the token, plain | seconds left |
//! | silenceper/wechat v2.1.3+ | `gowechat_officialaccount__access_token_{appid}` (two underscores) | the token, plain | seconds left |
//! | wechatpy (`RedisStorage`) | `{prefix}:{appid}_access_token`, prefix `wechatpy` | the token, JSON-encoded (`"TOKEN"`) | seconds left |
//! | wechatpy 2.x | `{prefix}:{appid}_access_token_expires_at` | Unix expiry, a JSON number | seconds left |
//!
//! WxJava treats a key with less than 2 s to live as expired, wechatpy one
//! with less than 60 s; silenceper trusts any key that exists, so the TTL
//! never outlives the token.

use wxtoken::{Config, Result};

use super::redis_pool::Pool;

/// The SDKs whose keys the daemon can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    /// binarywang/WxJava (Java).
    WxJava,
    /// silenceper/wechat v2 (Go).
    Silenceper,
    /// wechatpy (Python).
    Wechatpy,
}

impl Sdk {
    /// The name used in the config file's `publish` list.
    pub fn from_name(name: &str) -> Option<Sdk> {
        match name {
            "wxjava" => Some(Sdk::WxJava),
            "silenceper" => Some(Sdk::Silenceper),
            "wechatpy" => Some(Sdk::Wechatpy),
            _ => None,
        }
    }
}

/// Where and what to publish for one app.
#[derive(PartialEq, Eq)]
pub struct Publish {
    /// The Redis server the keys go to.
    pub url: String,
    sdks: Vec<Sdk>,
    wxjava_prefix: String,
    wechatpy_prefix: String,
    appid: String,
}

impl std::fmt::Debug for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("sdks", &self.sdks)
            .finish_non_exhaustive()
    }
}

impl Publish {
    /// Checks the URL now; the daemon connects through the server's pool.
    pub fn new(
        url: &str,
        sdks: Vec<Sdk>,
        wxjava_prefix: Option<String>,
        wechatpy_prefix: Option<String>,
        config: &Config,
    ) -> Result<Publish> {
        wxtoken::RedisServer::check_url(url, "publish_redis_url")?;
        Ok(Publish {
            url: url.to_string(),
            sdks,
            wxjava_prefix: wxjava_prefix.unwrap_or_else(|| "wx".into()),
            wechatpy_prefix: wechatpy_prefix.unwrap_or_else(|| "wechatpy".into()),
            appid: config.appid().to_string(),
        })
    }

    /// The `(key, value)` pairs for `token`, expiring at `expires_at`.
    fn pairs(&self, token: &str, expires_at: u64) -> Vec<(String, String)> {
        let appid = &self.appid;
        let mut pairs = Vec::new();
        for sdk in &self.sdks {
            match sdk {
                Sdk::WxJava => pairs.push((
                    format!("{}:access_token:{appid}", self.wxjava_prefix),
                    token.to_string(),
                )),
                Sdk::Silenceper => pairs.push((
                    format!("gowechat_officialaccount__access_token_{appid}"),
                    token.to_string(),
                )),
                Sdk::Wechatpy => {
                    let p = &self.wechatpy_prefix;
                    let json = serde_json::Value::from(token).to_string();
                    pairs.push((format!("{p}:{appid}_access_token"), json));
                    pairs.push((
                        format!("{p}:{appid}_access_token_expires_at"),
                        expires_at.to_string(),
                    ));
                }
            }
        }
        pairs
    }

    /// Every key this app publishes.
    pub fn keys(&self) -> Vec<String> {
        self.pairs("", 0).into_iter().map(|(k, _)| k).collect()
    }

    /// Writes every SDK's keys in one `MULTI` (on a Cluster, where the
    /// SDKs' keys fall in different slots, one `SET` each), each with the
    /// token's remaining lifetime as its TTL. A token about to expire is not
    /// published (the SDKs would discard it anyway). A failure is a store
    /// error naming the server, never a configuration error.
    pub fn write(&self, pool: &Pool, token: &str, expires_at: u64) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ttl = expires_at.saturating_sub(now);
        if ttl < 2 {
            return Ok(());
        }
        let set = |key: String, value: String| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key).arg(value).arg("EX").arg(ttl);
            cmd
        };
        if pool.is_cluster() {
            // A transaction must keep to one slot; each key is written on
            // its own (a reader of one SDK's keys reads one or two of them).
            return self
                .pairs(token, expires_at)
                .into_iter()
                .try_for_each(|(k, v)| {
                    let cmd = set(k, v);
                    pool.with("publish to", |c| cmd.query::<()>(c))
                });
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, value) in self.pairs(token, expires_at) {
            pipe.add_command(set(key, value)).ignore();
        }
        pool.with("publish to", |c| pipe.query::<()>(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_each_sdks_format() {
        let config = Config::builder()
            .appid("wx123")
            .secret("s")
            .build()
            .unwrap();
        let p = Publish::new(
            "redis://127.0.0.1:1/0",
            vec![Sdk::WxJava, Sdk::Silenceper, Sdk::Wechatpy],
            None,
            None,
            &config,
        )
        .unwrap();
        let pairs = p.pairs("TOK\"EN", 1_800_000_000);
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "wx:access_token:wx123",
                "gowechat_officialaccount__access_token_wx123",
                "wechatpy:wx123_access_token",
                "wechatpy:wx123_access_token_expires_at",
            ]
        );
        assert_eq!(pairs[0].1, "TOK\"EN");
        assert_eq!(pairs[2].1, "\"TOK\\\"EN\"");
        assert_eq!(pairs[3].1, "1800000000");
    }
}
