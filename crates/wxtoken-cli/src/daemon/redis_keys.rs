//! What the store watcher reads of an app's token in Redis, in batches over
//! the server's pool: the key names (the core's, from
//! [`wxtoken::RedisSpec::key`]) and how their values read. The store itself
//! is the core's (`StoreSpec::open`), whose connections are pooled per
//! server too.

use wxtoken::Cached;

/// The key names of an app's access token the watcher reads.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The token.
    pub token: String,
    /// Its Unix expiry.
    pub expires_at: String,
}

impl Keys {
    /// The keys of the app `app_key` on the Redis store `spec`.
    pub fn new(spec: &wxtoken::RedisSpec, app_key: &str) -> Keys {
        let token = spec.key(app_key, wxtoken::Credential::AccessToken);
        Keys {
            expires_at: format!("{token}:expires_at"),
            token,
        }
    }
}

/// A token as Redis holds it: what a reader would take, or none.
pub fn parse(
    token: Option<Vec<u8>>,
    expiry: Option<Vec<u8>>,
    fetched: Option<Vec<u8>>,
) -> Option<Cached> {
    let number =
        |v: Option<Vec<u8>>| -> Option<u64> { String::from_utf8(v?).ok()?.trim().parse().ok() };
    let token = String::from_utf8(token?).ok()?;
    let token = token.trim();
    if token.is_empty()
        || token.len() > wxtoken::MAX_TOKEN_LEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    Some(Cached {
        token: token.to_string(),
        expires_at: number(expiry).unwrap_or(0),
        written_at: number(fetched).filter(|&t| t > 0),
    })
}
