//! The JS-SDK signature: what a page passes to `wx.config` (and, in WeCom,
//! to `wx.agentConfig`).
//!
//! `signature = sha1("jsapi_ticket=T&noncestr=N&timestamp=TS&url=URL")`, with
//! the page's URL up to (not including) any `#`, a fresh nonce from the
//! operating system's CSPRNG for every config, and the current Unix time, as
//! WeChat's JS-SDK documentation (appendix 1) specifies.

use ring::rand::SecureRandom;
use serde::Serialize;

use crate::error::{Error, Result};

/// Characters of a nonce: letters and digits, as WeChat's examples use.
const NONCE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Characters in a nonce (WeChat allows up to 32).
const NONCE_LEN: usize = 16;
/// The longest page URL signed; browsers cap URLs near here too.
const MAX_URL_LEN: usize = 8192;

/// The parameters of `wx.config`, named as the JS-SDK (and EasyWeChat's
/// `buildConfig`) names them; `url` is the URL that was signed. For WeCom's
/// `wx.agentConfig` (signed with the agent ticket) it carries the agent id,
/// and the app id is named `corpid` as that call names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsSdkConfig {
    /// The app id (WeCom: the corp id).
    pub app_id: String,
    /// WeCom's agent id, for `wx.agentConfig` only.
    pub agent_id: Option<String>,
    /// Unix seconds.
    pub timestamp: u64,
    /// The random string signed.
    pub nonce_str: String,
    /// 40 lower-case hex digits.
    pub signature: String,
    /// The page URL signed: the one given, without its `#` part.
    pub url: String,
}

impl Serialize for JsSdkConfig {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(5 + usize::from(self.agent_id.is_some())))?;
        match &self.agent_id {
            None => map.serialize_entry("appId", &self.app_id)?,
            Some(agent) => {
                map.serialize_entry("corpid", &self.app_id)?;
                map.serialize_entry("agentid", agent)?;
            }
        }
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("nonceStr", &self.nonce_str)?;
        map.serialize_entry("signature", &self.signature)?;
        map.serialize_entry("url", &self.url)?;
        map.end()
    }
}

impl JsSdkConfig {
    /// Signs `url` with `ticket` at `timestamp`, with a fresh nonce.
    pub fn sign(app_id: &str, ticket: &str, url: &str, timestamp: u64) -> Result<JsSdkConfig> {
        let url = page_url(url)?;
        let nonce_str = nonce()?;
        Ok(JsSdkConfig {
            app_id: app_id.to_string(),
            agent_id: None,
            timestamp,
            signature: signature(ticket, &nonce_str, timestamp, url),
            nonce_str,
            url: url.to_string(),
        })
    }
}

/// `url` without its fragment; an error for what no page URL looks like.
fn page_url(url: &str) -> Result<&str> {
    let page = url.split('#').next().unwrap_or("");
    let scheme_ok = page.starts_with("http://") || page.starts_with("https://");
    if !scheme_ok || page.len() > MAX_URL_LEN || page.chars().any(char::is_whitespace) {
        return Err(Error::Config(format!(
            "the page URL to sign must be an http(s) URL without spaces, at most {MAX_URL_LEN} bytes"
        )));
    }
    Ok(page)
}

/// The signature of one config, as the JS-SDK checks it.
pub fn signature(ticket: &str, nonce: &str, timestamp: u64, url: &str) -> String {
    let text = format!("jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}");
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh nonce from the CSPRNG.
fn nonce() -> Result<String> {
    let rng = ring::rand::SystemRandom::new();
    let mut out = String::with_capacity(NONCE_LEN);
    let mut bytes = [0u8; 32];
    while out.len() < NONCE_LEN {
        rng.fill(&mut bytes)
            .map_err(|_| Error::Config("the system's random number generator failed".into()))?;
        // Only bytes below the largest multiple of the alphabet's size, so
        // every character is equally likely.
        let limit = 256 - 256 % NONCE_ALPHABET.len();
        for b in bytes.iter().filter(|b| usize::from(**b) < limit) {
            if out.len() == NONCE_LEN {
                break;
            }
            out.push(char::from(
                NONCE_ALPHABET[usize::from(*b) % NONCE_ALPHABET.len()],
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_wechats_published_example() {
        // The worked example of the JS-SDK documentation, appendix 1.
        let s = signature(
            "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
            "Wm3WZYTPz0wzccnW",
            1414587457,
            "http://mp.weixin.qq.com?params=value",
        );
        assert_eq!(s, "0f9de62fce790f9a083d5c99e95740ceb90c27ed");
    }

    #[test]
    fn nonces_are_fresh_and_the_fragment_is_not_signed() {
        let a = JsSdkConfig::sign("wx1", "T", "https://e.com/p?a=1#frag", 1).unwrap();
        let b = JsSdkConfig::sign("wx1", "T", "https://e.com/p?a=1#frag", 1).unwrap();
        assert_ne!(a.nonce_str, b.nonce_str);
        assert_eq!(a.url, "https://e.com/p?a=1");
        assert_eq!(a.nonce_str.len(), NONCE_LEN);
        assert_eq!(
            a.signature,
            signature("T", &a.nonce_str, 1, "https://e.com/p?a=1")
        );
        for bad in ["", "ftp://x", "https://e.com/a b", "#only"] {
            assert!(JsSdkConfig::sign("wx1", "T", bad, 1).is_err(), "{bad}");
        }
    }
}
