//! The app secret: kept out of every `Debug`, error and log line, read from
//! a private file when it comes from one (again at every fetch, so a
//! corrected file is heard without a restart), and fingerprinted for the
//! failure note without revealing it.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// A secret file holds one short line; anything longer is not one.
const MAX_SECRET_FILE: u64 = 4096;

/// The app secret. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(pub(super) String);

impl Secret {
    /// The secret itself, for building the request and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The first 64 bits of a labelled SHA-256 over the app id and `secret`, in
/// hex: what tells two sets of credentials apart in a failure note without
/// revealing either.
pub(super) fn fingerprint(appid: &str, secret: &Secret) -> String {
    let mut input = b"wxtoken credential scope v1\0".to_vec();
    input.extend_from_slice(appid.as_bytes());
    input.push(0);
    input.extend_from_slice(secret.expose().as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Refuses an empty secret or one with whitespace or non-printable
/// characters, naming the setting it came from (never the secret).
pub(super) fn check_secret(secret: &str, secret_name: &str) -> Result<()> {
    if secret.is_empty() {
        return Err(Error::Config(format!(
            "app secret is empty ({secret_name})"
        )));
    }
    if !secret.chars().all(|c| c.is_ascii_graphic()) {
        // Say what is wrong, never what the value is.
        return Err(Error::Config(format!(
            "app secret contains whitespace or non-printable characters ({secret_name})"
        )));
    }
    Ok(())
}

/// The secret from the first line of its file; see
/// [`ConfigBuilder::secret_file`]. A second non-empty line is refused: such a
/// file holds something else (an appid and a secret, a key), and guessing
/// which line is meant would send the wrong one.
pub(super) fn read_secret_file(path: &Path) -> Result<String> {
    const NAME: &str = "WX_APPSECRET_FILE";
    let bytes = crate::file_safety::read_setting_file(path, NAME, MAX_SECRET_FILE, true)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Config(format!(
            "{NAME} file {} is not valid UTF-8 ({NAME})",
            path.display()
        ))
    })?;
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let first = lines.next().unwrap_or("").trim().to_string();
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(Error::Config(format!(
            "{NAME} file {} holds more than one line; put only the secret in it ({NAME})",
            path.display()
        )));
    }
    Ok(first)
}
