//! Which credential a cache holds: the access token, or a ticket fetched
//! with it.
//!
//! A credential is (platform, app, kind). The kind decides three things and
//! nothing else: where a store keeps it (its files, its key), which source
//! fetches it, and what `status` calls it. The policy above the store (single
//! flight, refresh-ahead, back-off, invalidate) is the same for every kind.

use std::fmt;

use crate::config::Platform;
use crate::error::{Error, Result};

/// A JS-SDK ticket, fetched with the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketKind {
    /// `jsapi_ticket`, which signs `wx.config` for every JS-SDK page
    /// (`/cgi-bin/ticket/getticket?type=jsapi`).
    Jsapi,
    /// The card ticket, for the card and coupon APIs (`type=wx_card`).
    WxCard,
    /// WeCom: the corp's JS-SDK ticket, which signs `wx.config`
    /// (`/cgi-bin/get_jsapi_ticket`).
    Corp,
    /// WeCom: the app's ticket, which signs `wx.agentConfig`
    /// (`/cgi-bin/ticket/get?type=agent_config`).
    Agent,
}

impl TicketKind {
    /// Every ticket kind, in the order `status` lists them.
    pub const ALL: [TicketKind; 4] = [
        TicketKind::Jsapi,
        TicketKind::WxCard,
        TicketKind::Corp,
        TicketKind::Agent,
    ];

    /// The name front ends take: `jsapi`, `wx_card`, `corp` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::Jsapi => "jsapi",
            TicketKind::WxCard => "wx_card",
            TicketKind::Corp => "corp",
            TicketKind::Agent => "agent",
        }
    }

    /// The platform whose apps have it.
    pub fn platform(self) -> Platform {
        match self {
            TicketKind::Jsapi | TicketKind::WxCard => Platform::Mp,
            TicketKind::Corp | TicketKind::Agent => Platform::WeCom,
        }
    }

    /// The kinds an app of `platform` has.
    pub fn of(platform: Platform) -> impl Iterator<Item = TicketKind> {
        TicketKind::ALL
            .into_iter()
            .filter(move |k| k.platform() == platform)
    }

    /// The kind a front end named, for an app of `platform`; a
    /// configuration error naming the choices otherwise. On WeCom, `jsapi`
    /// is the corp's JS-SDK ticket (what `/cgi-bin/get_jsapi_ticket` hands
    /// out), so the front ends' default works on both platforms.
    pub fn parse_for(name: &str, platform: Platform) -> Result<TicketKind> {
        let choices: Vec<_> = TicketKind::of(platform)
            .map(|k| format!("\"{}\"", k.as_str()))
            .collect();
        if platform == Platform::WeCom && name.trim() == "jsapi" {
            return Ok(TicketKind::Corp);
        }
        TicketKind::of(platform)
            .find(|k| k.as_str() == name.trim())
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown ticket type {:?}: use {}",
                    name.chars().take(32).collect::<String>(),
                    choices.join(" or ")
                ))
            })
    }

    /// [`parse_for`](Self::parse_for) an official account or mini program:
    /// `jsapi` or `wx_card`.
    pub fn parse(name: &str) -> Result<TicketKind> {
        TicketKind::parse_for(name, Platform::Mp)
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
    pub const ALL: [Credential; 5] = [
        Credential::AccessToken,
        Credential::Ticket(TicketKind::Jsapi),
        Credential::Ticket(TicketKind::WxCard),
        Credential::Ticket(TicketKind::Corp),
        Credential::Ticket(TicketKind::Agent),
    ];

    /// Its name in store keys, file names, metrics labels and `status`:
    /// `access_token`, `jsapi_ticket`, `wx_card_ticket`, `corp_ticket`,
    /// `agent_ticket`.
    pub fn key(self) -> &'static str {
        match self {
            Credential::AccessToken => "access_token",
            Credential::Ticket(TicketKind::Jsapi) => "jsapi_ticket",
            Credential::Ticket(TicketKind::WxCard) => "wx_card_ticket",
            Credential::Ticket(TicketKind::Corp) => "corp_ticket",
            Credential::Ticket(TicketKind::Agent) => "agent_ticket",
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
            assert_eq!(TicketKind::parse_for(k.as_str(), k.platform()).unwrap(), k);
        }
        let e = TicketKind::parse("agent").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        assert!(e.to_string().contains("jsapi"), "{e}");
        assert_eq!(
            TicketKind::parse_for("agent", Platform::WeCom).unwrap(),
            TicketKind::Agent
        );
        assert_eq!(
            TicketKind::parse_for("jsapi", Platform::WeCom).unwrap(),
            TicketKind::Corp
        );
        let e = TicketKind::parse_for("wx_card", Platform::WeCom).unwrap_err();
        assert!(e.to_string().contains("\"corp\" or \"agent\""), "{e}");
        let keys: Vec<_> = Credential::ALL.iter().map(|c| c.key()).collect();
        assert_eq!(
            keys,
            [
                "access_token",
                "jsapi_ticket",
                "wx_card_ticket",
                "corp_ticket",
                "agent_ticket"
            ]
        );
    }
}
