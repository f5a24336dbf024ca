//! `wxtoken`: the token cache from the shell.
//!
//! `wxtoken get` prints only the token on stdout, so `TOKEN=$(wxtoken get)`
//! works; every failure is one line on stderr and an exit status that tells
//! configuration, WeChat, network and cache-file problems apart.

mod args;
mod daemon;

use std::io::Write;
use std::process::ExitCode;

use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use wxtoken::{AppCache, ConfigBuilder, Credential, Error, ErrorKind, Status};

fn main() -> ExitCode {
    // Usage errors exit 2 with clap's message; --help and --version exit 0.
    let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wxtoken: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Exit statuses, documented in `--help`.
fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::Config => 2,
        ErrorKind::WeChat => 3,
        ErrorKind::Network => 4,
        ErrorKind::Store => 5,
        ErrorKind::Passive => 6,
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let out = &mut std::io::stdout().lock();
    let settings = || -> Result<ConfigBuilder, Error> {
        let mut builder = ConfigBuilder::from_env()?;
        cli.settings.apply(&mut builder)?;
        Ok(builder)
    };
    let app = match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "wxtoken", out);
            return Ok(());
        }
        Command::Daemon { config, metrics } => {
            return daemon::run(config.as_deref(), *metrics, settings);
        }
        Command::DbSchema { dialect } => {
            let ddl = settings()?.database_schema(dialect.as_deref())?;
            return print(out, ddl.trim_end());
        }
        _ => AppCache::new(settings()?.build()?),
    };
    let cache = app.token();
    match cli.command {
        Command::Get => print(out, &cache.get_token()?)?,
        Command::Refresh => print(out, &cache.force_refresh()?)?,
        Command::Invalidate { token } => {
            let dropped = cache.invalidate(&token)?;
            print(
                out,
                if dropped {
                    "dropped"
                } else {
                    "kept: not the cached token"
                },
            )?;
        }
        Command::Ticket { kind } => {
            let ticket = app.ticket_named(&kind)?;
            print(out, &ticket.get_token()?)?;
            if let Some(w) = ticket.last_warning() {
                eprintln!("wxtoken: warning: {w}");
            }
        }
        Command::Jssdk { url, agent } => {
            let config = if agent {
                app.agent_config(&url)?
            } else {
                app.jssdk_config(&url)?
            };
            print(
                out,
                &serde_json::to_string(&config).expect("JsSdkConfig serialises"),
            )?;
        }
        Command::Status { json } => {
            let statuses = app.statuses()?;
            let text = if json {
                status_json(&statuses)
            } else {
                statuses
                    .iter()
                    .map(|(credential, status)| match credential {
                        Credential::AccessToken => describe(status),
                        other => format!("\n{other}:\n{}", describe(status)),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            print(out, &text)?;
        }
        Command::Completions { .. } | Command::Daemon { .. } | Command::DbSchema { .. } => {
            unreachable!("handled above")
        }
    }
    if let Some(w) = cache.last_warning() {
        eprintln!("wxtoken: warning: {w}");
    }
    Ok(())
}

fn print(out: &mut impl Write, text: &str) -> Result<(), Error> {
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::Io {
            op: "write to",
            path: "stdout".into(),
            source: e,
        })
}

/// `status --json`: the access token's status as before, and a `tickets`
/// object with each ticket the store holds, by type.
fn status_json(statuses: &[(Credential, Status)]) -> String {
    let mut value = serde_json::to_value(&statuses[0].1).expect("Status serialises");
    let tickets: serde_json::Map<String, serde_json::Value> = statuses[1..]
        .iter()
        .filter_map(|(c, s)| {
            let kind = c.ticket()?.as_str().to_string();
            Some((kind, serde_json::to_value(s).expect("Status serialises")))
        })
        .collect();
    value["tickets"] = serde_json::Value::Object(tickets);
    serde_json::to_string_pretty(&value).expect("JSON serialises")
}

/// The human form of `status`.
fn describe(s: &Status) -> String {
    let mut lines = match (&s.token_file, &s.expiry_file) {
        (Some(token), Some(expiry)) => vec![
            format!("token file:  {token}"),
            format!("expiry file: {expiry}"),
        ],
        _ => vec![format!(
            "store:       {} {}",
            s.store.kind, s.store.location
        )],
    };
    match (&s.token_preview, s.expires_at, s.seconds_left) {
        (Some(preview), Some(at), Some(left)) => {
            lines.push(format!("token:       {preview}"));
            lines.push(format!("expires at:  {at} (unix)"));
            lines.push(if left > 0 && !s.present {
                // Over a day ahead: no WeChat token lives that long.
                format!("time left:   none: expiry {at} is absurd, so the token counts as expired")
            } else if left > 0 {
                format!("time left:   {left}s")
            } else {
                format!("time left:   expired {}s ago", -left)
            });
            if let Some(age) = s.age_seconds {
                lines.push(format!("age:         {age}s"));
            }
            let state = if s.fresh {
                "fresh (a get is a cache hit)"
            } else if s.present {
                "inside the refresh margin (the next get refreshes)"
            } else {
                "expired (the next get fetches)"
            };
            lines.push(format!("state:       {state}"));
        }
        _ => lines.push("token:       none cached (the next get fetches)".into()),
    }
    if let Some(w) = &s.warning {
        lines.push(format!("warning:     {w}"));
    }
    lines.join("\n")
}
