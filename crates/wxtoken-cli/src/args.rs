//! The command line, on clap: flags override the `WX_*` environment, every
//! subcommand has `--help`, `--` ends the options (so `wxtoken invalidate --
//! -TOKEN` works), and shells get completions (`wxtoken completions bash`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use wxtoken::{ConfigBuilder, Result};

/// Exit statuses, shown under `--help`.
const EXIT_STATUS: &str = "\
Exit status: 0 ok, 2 usage or configuration, 3 WeChat error, 4 network,
5 cache store, 6 passive and nothing cached.

Every option overrides its environment variable (WX_APPID, ...).";

/// `wxtoken`: the WeChat access_token cache from the shell.
#[derive(Parser, Debug)]
#[command(name = "wxtoken", version, about, after_help = EXIT_STATUS)]
pub struct Cli {
    /// Settings, each overriding its environment variable.
    #[command(flatten)]
    pub settings: Settings,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What the user asked for.
#[derive(Subcommand, Debug, PartialEq, Eq)]
pub enum Command {
    /// Print the access token (cached, or fetched once)
    Get,
    /// The cached token's store, age and time left; fetches nothing
    Status {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Fetch a new token now and cache it
    Refresh,
    /// Drop TOKEN if it is still the cached one (after 40001/40014/42001)
    Invalidate {
        /// The token the WeChat API rejected (after `--` if it starts with `-`)
        token: String,
    },
    /// Keep one or many apps' tokens fresh ahead of expiry, for passive readers
    Daemon {
        /// TOML file with one [[app]] table per app (default: the one app the
        /// environment describes)
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Serve Prometheus metrics and /healthz on this loopback address,
        /// e.g. 127.0.0.1:9465
        #[arg(long, value_name = "ADDR")]
        metrics: Option<SocketAddr>,
    },
    /// Print a shell completion script
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// The settings flags. Each sets the setting of the same environment name.
#[derive(Args, Debug, Default)]
pub struct Settings {
    /// App id [WX_APPID]
    #[arg(long, global = true, value_name = "ID")]
    appid: Option<String>,
    /// App secret [WX_APPSECRET] (prefer --secret-file: flags show in `ps`)
    #[arg(
        long,
        global = true,
        value_name = "SECRET",
        conflicts_with = "secret_file"
    )]
    secret: Option<String>,
    /// Read the secret from the first line of a file that is not world-readable [WX_APPSECRET_FILE]
    #[arg(long, global = true, value_name = "PATH")]
    secret_file: Option<String>,
    /// Token file [WX_TOKEN_FILE] (default token.txt)
    #[arg(long, global = true, value_name = "PATH")]
    token_file: Option<String>,
    /// Expiry file [WX_EXPIRY_FILE] (default expiry.txt)
    #[arg(long, global = true, value_name = "PATH")]
    expiry_file: Option<String>,
    /// API base URLs, comma-separated, tried in order [WX_API_BASE]
    #[arg(long, global = true, value_name = "URLS")]
    api_base: Option<String>,
    /// Refresh margin in seconds [WX_REFRESH_MARGIN] (default 300)
    #[arg(long, global = true, value_name = "SECONDS")]
    margin: Option<String>,
    /// Endpoint: token or stable [WX_TOKEN_MODE] (default token)
    #[arg(long, global = true, value_name = "MODE")]
    mode: Option<String>,
    /// HTTP timeout for a whole fetch, seconds [WX_HTTP_TIMEOUT] (default 10)
    #[arg(long, global = true, value_name = "SECONDS")]
    timeout: Option<String>,
    /// Shared Redis store [WX_REDIS_URL] (default: the files)
    #[arg(long, global = true, value_name = "URL")]
    redis_url: Option<String>,
    /// Prefix of the Redis keys [WX_REDIS_PREFIX] (default wxtoken)
    #[arg(long, global = true, value_name = "PREFIX")]
    redis_prefix: Option<String>,
    /// Extra trusted CA bundle, PEM [WX_CA_FILE]
    #[arg(long, global = true, value_name = "PATH")]
    ca_file: Option<String>,
    /// Never fetch, only read the cache [WX_PASSIVE]; --passive=0 turns it off
    #[arg(long, global = true, value_name = "1|0", num_args = 0..=1, default_missing_value = "1", require_equals = true)]
    passive: Option<String>,
    /// Allow http:// to a host other than loopback [WX_ALLOW_HTTP]
    #[arg(long, global = true, value_name = "1|0", num_args = 0..=1, default_missing_value = "1", require_equals = true)]
    allow_http: Option<String>,
}

impl Settings {
    /// Puts every flag given on top of `builder` (which holds the environment).
    pub fn apply(&self, builder: &mut ConfigBuilder) -> Result<()> {
        let given = [
            ("WX_APPID", &self.appid),
            ("WX_APPSECRET_FILE", &self.secret_file),
            ("WX_APPSECRET", &self.secret),
            ("WX_TOKEN_FILE", &self.token_file),
            ("WX_EXPIRY_FILE", &self.expiry_file),
            ("WX_API_BASE", &self.api_base),
            ("WX_REFRESH_MARGIN", &self.margin),
            ("WX_TOKEN_MODE", &self.mode),
            ("WX_HTTP_TIMEOUT", &self.timeout),
            ("WX_REDIS_URL", &self.redis_url),
            ("WX_REDIS_PREFIX", &self.redis_prefix),
            ("WX_CA_FILE", &self.ca_file),
            ("WX_PASSIVE", &self.passive),
            ("WX_ALLOW_HTTP", &self.allow_http),
        ];
        for (name, value) in given {
            if let Some(v) = value {
                builder.set(name, v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> std::result::Result<(Command, ConfigBuilder), clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("wxtoken").chain(a.iter().copied()))?;
        let mut b = ConfigBuilder::default();
        cli.settings.apply(&mut b).unwrap();
        Ok((cli.command, b))
    }

    #[test]
    fn commands_and_flags() {
        let (cmd, b) = parse(&["--appid", "wxA", "--secret=S1", "get"]).unwrap();
        assert_eq!(cmd, Command::Get);
        let c = b.build().unwrap();
        assert_eq!((c.appid(), c.secret().expose()), ("wxA", "S1"));
        // Flags may follow the subcommand too.
        let (cmd, b) = parse(&["status", "--json", "--appid", "wxB"]).unwrap();
        assert_eq!(cmd, Command::Status { json: true });
        assert_eq!(b.secret("s").build().unwrap().appid(), "wxB");
        assert_eq!(
            parse(&["invalidate", "TOK"]).unwrap().0,
            Command::Invalidate {
                token: "TOK".into()
            }
        );
        // A token starting with '-' after `--`.
        assert_eq!(
            parse(&["invalidate", "--", "-abc"]).unwrap().0,
            Command::Invalidate {
                token: "-abc".into()
            }
        );
    }

    #[test]
    fn passive_takes_an_optional_value() {
        for (args, passive) in [
            (&["--passive", "get"][..], true),
            (&["--passive=0", "get"], false),
            (&["--passive=1", "get"], true),
        ] {
            let (cmd, b) = parse(args).unwrap();
            assert_eq!(cmd, Command::Get);
            let c = b.appid("a").secret("s").build().unwrap();
            assert_eq!(c.passive(), passive, "{args:?}");
        }
        let (_, b) = parse(&["--passive=maybe", "get"]).unwrap();
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
            &["--secret", "a", "--secret-file", "b", "get"],
        ] {
            let e = parse(a).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{a:?}");
        }
    }

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
