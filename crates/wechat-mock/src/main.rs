//! `wechat-mock`: runs the mock WeChat token API until killed.
//!
//! Prints its base URL (`http://127.0.0.1:PORT`) as the first line of stdout
//! so scripts can start it with `--port 0` and read where it listens.

use std::io::Write;
use std::process::ExitCode;

use wechat_mock::{MockConfig, MockServer};

const USAGE: &str = "\
Usage: wechat-mock [--port N] [--appid ID] [--secret S] [--expires-in SECS]
                   [--corpid ID] [--corp-app AGENTID:SECRET ...]

Runs a mock WeChat access_token API on 127.0.0.1 until killed and prints its
base URL (http://127.0.0.1:PORT) as the first line of stdout.

Options:
  --port N           port to listen on; 0 (default) picks a free one
  --appid ID         accepted appid (default wx_test_appid); '*' accepts any
  --secret S         accepted secret (default test_secret_0123456789)
  --expires-in SECS  expires_in of issued tokens (default 7200)
  --corpid ID        WeCom corp id gettoken accepts (default ww_test_corpid)
  --corp-app A:S     a WeCom app of that corp, agent id A with secret S
                     (repeatable; default 1000002 and 1000003)
  --help             show this help

Control endpoints: /mock/stats, /mock/fault?kind=..., /mock/expires_in?secs=N,
/mock/advance?secs=N, /mock/reset";

/// What the command line asks for.
enum Command {
    Help,
    Serve { port: u16, config: MockConfig },
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut port = 0u16;
    let mut config = MockConfig::default();
    let mut own_apps = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--port" => {
                let v = value("--port")?;
                port = v
                    .parse()
                    .map_err(|_| format!("--port: '{v}' is not a port number (0-65535)"))?;
            }
            "--appid" => config.appid = value("--appid")?,
            "--corpid" => config.corp_id = value("--corpid")?,
            "--corp-app" => {
                let v = value("--corp-app")?;
                // Never echo the value: it holds a secret.
                let (agent, secret) = v
                    .split_once(':')
                    .filter(|(a, s)| !a.is_empty() && !s.is_empty())
                    .ok_or("--corp-app needs AGENTID:SECRET")?;
                if !own_apps {
                    config.corp_apps.clear();
                    own_apps = true;
                }
                config
                    .corp_apps
                    .push((agent.to_string(), secret.to_string()));
            }
            // Never echo the secret, not even in an error.
            "--secret" => config.secret = value("--secret")?,
            "--expires-in" => {
                let v = value("--expires-in")?;
                config.expires_in = v
                    .parse()
                    .map_err(|_| format!("--expires-in: '{v}' is not an integer"))?;
            }
            _ => return Err(format!("unknown argument '{flag}' (see --help)")),
        }
    }
    Ok(Command::Serve { port, config })
}

fn main() -> ExitCode {
    let (port, config) = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve { port, config }) => (port, config),
        Err(msg) => {
            eprintln!("wechat-mock: {msg}");
            return ExitCode::from(2);
        }
    };
    let server = match MockServer::start_with(port, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wechat-mock: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    // Scripts block on this line; flush so it is not stuck in a pipe buffer.
    if writeln!(out, "{}", server.url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    server.wait();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn both_flag_forms() {
        let Ok(Command::Serve { port, config }) = parse(&[
            "--port=8080",
            "--appid",
            "a",
            "--secret=s=with=equals",
            "--expires-in",
            "-5",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(port, 8080);
        assert_eq!(config.appid, "a");
        assert_eq!(config.secret, "s=with=equals");
        assert_eq!(config.expires_in, -5);
    }

    #[test]
    fn errors_never_contain_the_secret() {
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
        let err = parse(&["--secret", "hunter2", "--what"]).err().unwrap();
        assert!(err.contains("--what") && !err.contains("hunter2"));
        assert!(parse(&["--port", "x"]).is_err());
        assert!(parse(&["stray"]).is_err());
    }
}
