//! A failed call as the C side sees it: a status, a message and maybe a
//! WeChat errcode.

use crate::status::wx_status;

/// Why a call failed; recorded as the thread's last error and turned into
/// the returned status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The status returned to the caller.
    pub(crate) status: wx_status,
    /// One line for `wx_last_error()`; never holds the secret.
    pub(crate) message: String,
    /// WeChat's errcode, when WeChat sent one.
    pub(crate) errcode: Option<i64>,
}

impl Failure {
    /// A failure detected by this layer (arguments, buffers), with no errcode.
    pub(crate) fn new(status: wx_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            errcode: None,
        }
    }

    /// A core error. The core already keeps the secret out of its messages;
    /// the secret is masked here once more because this is the last point
    /// before the text leaves for C code that may log it anywhere.
    pub(crate) fn from_core(e: &wxtoken::Error, secret: &str) -> Failure {
        let mut message = e.to_string();
        if !secret.is_empty() && message.contains(secret) {
            message = message.replace(secret, "***");
        }
        Failure {
            status: wx_status::of_error(e),
            message,
            errcode: e.errcode(),
        }
    }

    /// A panic stopped at the boundary. Its payload is not shown: it is
    /// already on stderr through the panic hook, and it is free text that
    /// nobody checked for secrets.
    pub(crate) fn panic(function: &str) -> Failure {
        Failure::new(
            wx_status::WX_ERR_PANIC,
            format!("internal error: {function} panicked (details on stderr); the library is still usable"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_messages_are_masked_and_keep_the_errcode() {
        let e = wxtoken::Error::WeChat {
            errcode: 40125,
            errmsg: "invalid appsecret s3cr3t-xyz".into(),
        };
        let f = Failure::from_core(&e, "s3cr3t-xyz");
        assert!(!f.message.contains("s3cr3t-xyz"), "{}", f.message);
        assert!(f.message.contains("40125"));
        assert_eq!(f.errcode, Some(40125));
        assert_eq!(f.status, wx_status::WX_ERR_CONFIG);
    }
}
