//! Query parameters as the handlers read them.
//!
//! Decoding (percent escapes, `+` as space, malformed escapes kept as they
//! are) is `serde_urlencoded`'s, through axum's `Query` extractor. The pairs
//! are kept in order rather than put into a map so that a repeated name
//! resolves to its first value, and so that no combination of parameters
//! can make the extractor itself reject a request: every oddity is left to
//! the endpoint, which answers it the WeChat way.

use serde::Deserialize;

/// The decoded `name=value` pairs of a query string, in order.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// First value of parameter `name` (exact match).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Query;

    #[test]
    fn decodes_like_a_form_and_the_first_value_wins() {
        let uri = "/x?a=x%20y&b=1+2&a=late&c=%zz%4&flag".parse().unwrap();
        let Query(p) = Query::<Params>::try_from_uri(&uri).unwrap();
        assert_eq!(p.get("a"), Some("x y"));
        assert_eq!(p.get("b"), Some("1 2"));
        assert_eq!(p.get("c"), Some("%zz%4"));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("missing"), None);
    }
}
