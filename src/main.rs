//! `invsync`: the command-line entry point. Parses arguments, loads the config, opens the
//! database and hands over to one command module. Errors are printed once, here, with
//! their causes, in the output format asked for (`error`); exit codes follow product.md:
//! 0 ok, 1 the run had failures, 2 usage, config or input error.

mod cli;
mod commands;
mod error;
mod output;
mod progress;

use clap::Parser;
use cli::{Cli, Command};
pub use error::{CliError, ErrorKind};
use std::process::ExitCode;

pub type CmdResult = Result<ExitCode, CliError>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return error::arguments(e, std::env::args_os()),
    };
    init_logging(&cli);
    let format = cli.format;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e =
                CliError::other(anyhow::Error::new(e).context("cannot start the async runtime"));
            e.print(format);
            return e.exit_code();
        }
    };
    let result = runtime.block_on(run(cli));
    // Everything the command had to do has been awaited. What may still run is a blocking
    // read abandoned by an interrupted run (a hung file or socket): don't wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            e.print(format);
            e.exit_code()
        }
    }
}

async fn run(cli: Cli) -> CmdResult {
    let format = cli.format;
    match cli.command {
        Command::Config(cli::ConfigCommand::Check) => {
            commands::config_check::run(cli.config.as_deref(), format).await
        }
        Command::Migrate => commands::migrate::run(cli.config.as_deref(), format).await,
        Command::Daemon => commands::daemon::run(cli.config.as_deref()).await,
        Command::Sync(args) => commands::sync::run(cli.config.as_deref(), format, args).await,
        Command::Status(args) => commands::status::run(cli.config.as_deref(), format, args).await,
        Command::Runs(args) => commands::runs::run(cli.config.as_deref(), format, args).await,
        Command::Map(cmd) => commands::map::run(cli.config.as_deref(), format, cmd).await,
        Command::Auth(cmd) => commands::auth::run(cli.config.as_deref(), format, cmd).await,
        Command::WebConnector(cmd) => {
            commands::web_connector::run(cli.config.as_deref(), format, cmd).await
        }
    }
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    // A service logs its runs; a one-shot command only warnings, unless asked.
    let level = match (&cli.command, cli.log.as_str()) {
        (Command::Daemon, "warn") if std::env::var_os("INVSYNC_LOG").is_none() => "info",
        (_, level) => level,
    };
    let filter = EnvFilter::try_new(level).unwrap_or_else(|e| {
        eprintln!(
            "warning: --log/INVSYNC_LOG `{}` is not a valid filter ({e}); using `warn`",
            cli.log
        );
        EnvFilter::new("warn")
    });
    use std::io::IsTerminal as _;
    // Colours only on a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
