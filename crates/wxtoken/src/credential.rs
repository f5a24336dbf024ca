//! Which credential a cache holds: the access token, or a ticket fetched
//! with it.
//!
//! A credential is (platform, app, kind). The kind decides three things and
//! nothing else: where a store keeps it (its files, its key), which source
//! fetches it, and what `status` calls it. The policy above the store (single
//! flight, refresh-ahead, back-off, invalidate) is the same for every kind.

use std::fmt;

use crate::error::{Error, Result};

/// A JS-SDK ticket, fetched with the access token from
/// `/cgi-bin/ticket/getticket?type=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketKind {
    /// `jsapi_ticket`, which signs `wx.config` for every JS-SDK page.
    Jsapi,
    /// The card ticket (`type=wx_card`), for the card and coupon APIs.
    WxCard,
}

impl TicketKind {
    /// Every ticket kind, in the order `status` lists them.
    pub const ALL: [TicketKind; 2] = [TicketKind::Jsapi, TicketKind::WxCard];

    /// The `type` parameter WeChat takes, and the name front ends take:
    /// `jsapi` or `wx_card`.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::Jsapi => "jsapi",
            TicketKind::WxCard => "wx_card",
        }
    }

    /// The kind a front end named (`jsapi`, `wx_card`); a configuration
    /// error naming the choices otherwise.
    pub fn parse(name: &str) -> Result<TicketKind> {
        TicketKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name.trim())
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown ticket type {:?}: use \"jsapi\" or \"wx_card\"",
                    name.chars().take(32).collect::<String>()
                ))
            })
    }
}

/// One kind of credential of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// The access token every WeChat server API takes.
    AccessToken,
    /// A JS-SDK ticket, fetched with the access token.
    Ticket(TicketKind),
}

impl Credential {
    /// Every credential, the access token first.
    pub const ALL: [Credential; 3] = [
        Credential::AccessToken,
        Credential::Ticket(TicketKind::Jsapi),
        Credential::Ticket(TicketKind::WxCard),
    ];

    /// Its name in store keys, file names, metrics labels and `status`:
    /// `access_token`, `jsapi_ticket`, `wx_card_ticket`.
    pub fn key(self) -> &'static str {
        match self {
            Credential::AccessToken => "access_token",
            Credential::Ticket(TicketKind::Jsapi) => "jsapi_ticket",
            Credential::Ticket(TicketKind::WxCard) => "wx_card_ticket",
        }
    }

    /// The ticket kind, if it is one.
    pub fn ticket(self) -> Option<TicketKind> {
        match self {
            Credential::Ticket(k) => Some(k),
            Credential::AccessToken => None,
        }
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for k in TicketKind::ALL {
            assert_eq!(TicketKind::parse(k.as_str()).unwrap(), k);
        }
        let e = TicketKind::parse("agent").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        assert!(e.to_string().contains("jsapi"), "{e}");
        let keys: Vec<_> = Credential::ALL.iter().map(|c| c.key()).collect();
        assert_eq!(keys, ["access_token", "jsapi_ticket", "wx_card_ticket"]);
    }
}
