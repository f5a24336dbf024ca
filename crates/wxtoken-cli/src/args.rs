//! Command-line parsing: flags override the `WX_*` environment.

use wxtoken::{ConfigBuilder, Error};

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Print the token.
    Get,
    /// Describe the cached token; JSON when `json`.
    Status {
        /// Print JSON instead of text.
        json: bool,
    },
    /// Fetch a new token now.
    Refresh,
    /// Drop this token if it is still the cached one.
    Invalidate(String),
    /// Print usage.
    Help,
    /// Print the version.
    Version,
}

/// Flag name → setting name. Every setting has a flag.
const FLAGS: &[(&str, &str)] = &[
    ("--appid", "WX_APPID"),
    ("--secret", "WX_APPSECRET"),
    ("--token-file", "WX_TOKEN_FILE"),
    ("--expiry-file", "WX_EXPIRY_FILE"),
    ("--api-base", "WX_API_BASE"),
    ("--margin", "WX_REFRESH_MARGIN"),
    ("--mode", "WX_TOKEN_MODE"),
    ("--timeout", "WX_HTTP_TIMEOUT"),
    ("--redis-url", "WX_REDIS_URL"),
    ("--redis-prefix", "WX_REDIS_PREFIX"),
    ("--ca-file", "WX_CA_FILE"),
    ("--secret-file", "WX_APPSECRET_FILE"),
];

/// Usage text.
pub const USAGE: &str = "\
usage: wxtoken [options] <command>

commands:
  get                 print the access token (cached, or fetched once)
  status [--json]     the cached token's age and time left; fetches nothing
  refresh             fetch a new token now and cache it
  invalidate TOKEN    drop TOKEN if it is still the cached one (after 40001/42001)

options (each overrides its environment variable):
  --appid ID          WX_APPID
  --secret SECRET     WX_APPSECRET (prefer the variable: flags show in `ps`)
  --secret-file PATH  WX_APPSECRET_FILE  (first line; not world-readable)
  --token-file PATH   WX_TOKEN_FILE      (default token.txt)
  --expiry-file PATH  WX_EXPIRY_FILE     (default expiry.txt)
  --api-base URLS     WX_API_BASE        (comma-separated, tried in order)
  --margin SECONDS    WX_REFRESH_MARGIN  (default 300)
  --mode token|stable WX_TOKEN_MODE      (default token)
  --timeout SECONDS   WX_HTTP_TIMEOUT    (default 10)
  --redis-url URL     WX_REDIS_URL       (shared store; default: the files)
  --redis-prefix P    WX_REDIS_PREFIX    (default wxtoken)
  --ca-file PATH      WX_CA_FILE
  --passive[=1|0]     WX_PASSIVE: never fetch, only read the cache
  -h, --help          this text
  -V, --version       the version

exit status: 0 ok, 2 usage or configuration, 3 WeChat error, 4 network,
5 cache files, 6 passive and nothing cached";

/// Parses `args` (without the program name) on top of `builder`.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    builder: &mut ConfigBuilder,
) -> Result<Command, Error> {
    let mut args = args.into_iter();
    let mut words = Vec::new();
    let mut json = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--json" if inline.is_some() => return Err(usage("--json takes no value".into())),
            "--json" => json = true,
            // --passive alone means on; --passive=0 is honoured, not ignored.
            "--passive" => {
                builder.set("WX_PASSIVE", inline.as_deref().unwrap_or("1"))?;
            }
            f if f.starts_with('-') && f.len() > 1 => {
                let setting = FLAGS
                    .iter()
                    .find(|(name, _)| *name == f)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| usage(format!("unknown option {f}")))?;
                let v = value(f)?;
                builder.set(setting, &v)?;
            }
            _ => words.push(arg),
        }
    }
    let mut words = words.into_iter();
    let cmd = match words.next().as_deref() {
        None => return Err(usage("no command given".into())),
        Some("get") => Command::Get,
        Some("status") => Command::Status { json },
        Some("refresh") => Command::Refresh,
        Some("invalidate") => Command::Invalidate(
            words
                .next()
                .ok_or_else(|| usage("invalidate needs the failed token".into()))?,
        ),
        Some("help") => Command::Help,
        Some(other) => return Err(usage(format!("unknown command {other:?}"))),
    };
    if let Some(extra) = words.next() {
        return Err(usage(format!("unexpected argument {extra:?}")));
    }
    if json && !matches!(cmd, Command::Status { .. }) {
        return Err(usage("--json goes with status".into()));
    }
    Ok(cmd)
}

fn usage(msg: String) -> Error {
    Error::Config(format!("{msg} (see wxtoken --help)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(a: &[&str]) -> (Result<Command, Error>, ConfigBuilder) {
        let mut b = ConfigBuilder::default();
        let r = parse(a.iter().map(|s| s.to_string()), &mut b);
        (r, b)
    }

    #[test]
    fn commands_and_flags() {
        let (r, b) = parse_strs(&["--appid", "wxA", "--secret=S1", "get"]);
        assert_eq!(r.unwrap(), Command::Get);
        let c = b.build().unwrap();
        assert_eq!((c.appid(), c.secret().expose()), ("wxA", "S1"));
        assert_eq!(
            parse_strs(&["status", "--json"]).0.unwrap(),
            Command::Status { json: true }
        );
        assert_eq!(
            parse_strs(&["invalidate", "TOK"]).0.unwrap(),
            Command::Invalidate("TOK".into())
        );
    }

    #[test]
    fn passive_takes_an_optional_value() {
        for (args, passive) in [
            (&["--passive", "get"][..], true),
            (&["--passive=0", "get"], false),
            (&["--passive=1", "get"], true),
        ] {
            let (r, b) = parse_strs(args);
            assert_eq!(r.unwrap(), Command::Get);
            let c = b.appid("a").secret("s").build().unwrap();
            assert_eq!(c.passive(), passive, "{args:?}");
        }
        let (_, b) = parse_strs(&["--passive=maybe", "get"]);
        assert!(b.appid("a").secret("s").build().is_err());
    }

    #[test]
    fn bad_usage_is_an_error() {
        for a in [
            &[][..],
            &["fly"],
            &["get", "extra"],
            &["--nope", "get"],
            &["--appid"],
            &["invalidate"],
            &["get", "--json"],
            &["status", "--json=no"],
        ] {
            assert!(parse_strs(a).0.is_err(), "{a:?}");
        }
    }
}
