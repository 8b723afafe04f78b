//! `invsync`: the command-line entry point. Parses arguments, loads the config, opens the
//! database and hands over to one command module. Errors are printed once, here, with
//! their causes; exit codes follow product.md: 0 ok, 1 the run had failures, 2 usage or
//! config error.

mod cli;
mod commands;
mod output;
mod progress;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

/// An error that ends the command, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub error: anyhow::Error,
}

impl CliError {
    /// Usage, config or input-data errors: exit 2.
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            code: 2,
            error: error.into(),
        }
    }

    /// Anything else that stopped the command: exit 1.
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            code: 1,
            error: error.into(),
        }
    }
}

pub type CmdResult = Result<ExitCode, CliError>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // Everything the command had to do has been awaited. What may still run is a blocking
    // read abandoned by an interrupted run (a hung file or socket): don't wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(CliError { code, error }) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> CmdResult {
    let format = cli.format;
    match cli.command {
        Command::Config(cli::ConfigCommand::Check) => {
            commands::config_check::run(cli.config.as_deref(), format).await
        }
        Command::Migrate => commands::migrate::run(cli.config.as_deref()).await,
        Command::Daemon => commands::daemon::run(cli.config.as_deref()).await,
        Command::Sync(args) => commands::sync::run(cli.config.as_deref(), format, args).await,
        Command::Status(args) => commands::status::run(cli.config.as_deref(), format, args).await,
        Command::Runs(args) => commands::runs::run(cli.config.as_deref(), format, args).await,
        Command::Map(cmd) => commands::map::run(cli.config.as_deref(), format, cmd).await,
        Command::Auth(cmd) => commands::auth::run(cli.config.as_deref(), cmd).await,
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
