//! The command line, on clap: flags override the `WX_*` environment, every
//! subcommand has `--help`, `--` ends the options (so `wxtoken invalidate --
//! -TOKEN` works), and shells get completions (`wxtoken completions bash`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use wxtoken::{ConfigBuilder, FlagValue, Result};

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
    /// The cached token's (and tickets') store, age and time left; fetches nothing
    Status {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Fetch a new token now and cache it
    Refresh,
    /// Print a JS-SDK ticket (cached, or fetched once with the access token)
    Ticket {
        /// The ticket type: jsapi or wx_card; on WeCom corp (or jsapi) or agent
        #[arg(default_value = "jsapi")]
        kind: String,
    },
    /// Print the JSON that wx.config needs for the page at URL (appId,
    /// timestamp, nonceStr, signature, and the url signed)
    Jssdk {
        /// WeCom: the JSON of wx.agentConfig (corpid, agentid, ...), signed
        /// with the app's agent ticket
        #[arg(long)]
        agent: bool,
        /// The page's full URL (its #fragment is not signed)
        url: String,
    },
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
    /// Print the CREATE TABLE of the database store's table, for a DBA who
    /// creates tables (the store creates it when the user may)
    DbSchema {
        /// mysql (MariaDB too) or postgres; default: the one WX_DATABASE_URL
        /// names
        dialect: Option<String>,
    },
    /// Print a shell completion script
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// The settings flags, one per setting of the core's table
/// (`wxtoken::SETTINGS`), each overriding its environment variable. Built
/// from the table rather than declared here, so a new setting gets its flag,
/// help line and README row from one place.
#[derive(Debug, Default)]
pub struct Settings {
    /// `(environment name, value)` for every flag given.
    given: Vec<(&'static str, String)>,
}

impl Settings {
    /// Puts every flag given on top of `builder` (which holds the environment).
    pub fn apply(&self, builder: &mut ConfigBuilder) -> Result<()> {
        for (name, value) in &self.given {
            builder.set(name, value)?;
        }
        Ok(())
    }
}

impl clap::FromArgMatches for Settings {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut s = Settings::default();
        s.update_from_arg_matches(m)?;
        Ok(s)
    }

    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        for setting in wxtoken::SETTINGS.iter().filter(|s| s.flag.is_some()) {
            if let Some(v) = m.get_one::<String>(setting.env) {
                self.given.push((setting.env, v.clone()));
            }
        }
        Ok(())
    }
}

impl clap::Args for Settings {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let mut cmd = cmd;
        for s in wxtoken::SETTINGS.iter() {
            let Some(flag) = s.flag else { continue };
            let mut arg = clap::Arg::new(s.env).long(flag).global(true).help(format!(
                "{} [{}] (default: {})",
                s.doc,
                s.env,
                s.default.replace('`', "")
            ));
            arg = match s.flag_value {
                FlagValue::Required => {
                    arg.value_name(flag.rsplit('-').next().unwrap_or(flag).to_uppercase())
                }
                FlagValue::Switch => arg
                    .value_name("1|0")
                    .num_args(0..=1)
                    .default_missing_value("1")
                    .require_equals(true),
            };
            if s.env == "WX_APPSECRET" {
                // Both would set the secret; a flag each way is a mistake.
                arg = arg.conflicts_with("WX_APPSECRET_FILE");
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
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
