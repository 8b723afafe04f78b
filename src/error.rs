//! How a command fails: the kind of problem, which decides the exit code (product.md: 0 ok,
//! 1 the run had failures, 2 usage or config error), and how the error is printed — one
//! line on stderr for people, and with `--format json` also one JSON document on stdout:
//!
//! ```json
//! {"error": {"kind": "config", "exit_code": 2, "message": "…",
//!            "config_errors": [{"file": "…", "key": "…", "env": null, "message": "…"}]}}
//! ```
//!
//! `config_errors` is there for `kind = "config"` only. A `sync` that ran and failed prints
//! its run report instead (its `error` is the run's error text), as it always has.

use crate::cli::Format;
use crate::output;
use invsync_engine::EngineError;
use invsync_store::StoreError;
use serde::Serialize;
use serde_json::json;
use std::ffi::OsString;
use std::process::ExitCode;

/// What was at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The command line: arguments, an unknown store, a run or mapping that does not exist.
    Usage,
    /// The config file or an `INVSYNC__…` override (missing, unreadable, invalid).
    Config,
    /// Input data the operator controls: a data or orders file missing, unreadable,
    /// malformed, a symlink loop, not a regular file.
    Input,
    /// The run-history database.
    Database,
    /// The accounting system or a store (a platform) failed.
    Connection,
    /// Stopped by a signal before it finished.
    Interrupted,
    /// Anything else (output not writable, a bug).
    Other,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage | ErrorKind::Config | ErrorKind::Input => 2,
            ErrorKind::Database
            | ErrorKind::Connection
            | ErrorKind::Interrupted
            | ErrorKind::Other => 1,
        }
    }
}

/// An error that ends the command.
#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(kind: ErrorKind, error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind,
            error: error.into(),
        }
    }

    /// The command line asked for something that is not there: exit 2.
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        CliError::new(ErrorKind::Usage, error)
    }

    /// The config could not be loaded or is invalid: exit 2.
    pub fn config(error: impl Into<anyhow::Error>) -> Self {
        CliError::new(ErrorKind::Config, error)
    }

    /// Anything else that stopped the command: exit 1.
    pub fn other(error: impl Into<anyhow::Error>) -> Self {
        CliError::new(ErrorKind::Other, error)
    }

    /// A run-history database error; an unsupported database URL is a config error.
    pub fn database(error: StoreError) -> Self {
        let kind = match error {
            StoreError::UnsupportedUrl { .. } => ErrorKind::Config,
            _ => ErrorKind::Database,
        };
        CliError::new(kind, error)
    }

    /// An engine error, by what was at fault.
    pub fn engine(error: EngineError) -> Self {
        let kind = match &error {
            EngineError::UnknownStore(_) | EngineError::Plan(_) => ErrorKind::Usage,
            e if e.is_input_error() => ErrorKind::Input,
            EngineError::Store(_) | EngineError::NotStarted(_) => ErrorKind::Database,
            EngineError::Interrupted => ErrorKind::Interrupted,
            EngineError::Internal(_) => ErrorKind::Other,
            _ => ErrorKind::Connection,
        };
        CliError::new(kind, error)
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.exit_code())
    }

    /// Prints the error once: a line on stderr, and the JSON document on stdout when the
    /// output is JSON.
    pub fn print(&self, format: Format) {
        let message = format!("{:#}", self.error);
        output::error_line(&message);
        if format == Format::Json {
            let mut body = json!({
                "kind": self.kind,
                "exit_code": self.kind.exit_code(),
                "message": message,
            });
            if let Some(errors) = self.error.downcast_ref::<invsync_config::ConfigErrors>() {
                body["config_errors"] = errors
                    .iter()
                    .map(|e| {
                        json!({
                            "file": e.file,
                            "key": e.key,
                            "env": e.env,
                            "message": e.message,
                        })
                    })
                    .collect();
            }
            // Nothing more can be said if stdout is gone.
            let _ = output::json(&json!({ "error": body }));
        }
    }
}

/// The arguments did not parse. `--help` and `--version` print and exit 0; anything else
/// is a usage error (exit 2), printed by clap on stderr and, when the command line asked
/// for JSON, as the JSON error on stdout. Clap stops before the format is known, so it is
/// looked for in the raw arguments.
pub fn arguments(error: clap::Error, args: impl IntoIterator<Item = OsString>) -> ExitCode {
    if !error.use_stderr() {
        error.exit();
    }
    let _ = error.print();
    if wants_json(args) {
        let text = error.render().to_string();
        // The first paragraph, without clap's `error: ` and its usage hint.
        let first = text.split("\n\n").next().unwrap_or_default().trim();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let body = json!({
            "kind": ErrorKind::Usage,
            "exit_code": ErrorKind::Usage.exit_code(),
            "message": message,
        });
        let _ = output::json(&json!({ "error": body }));
    }
    ExitCode::from(ErrorKind::Usage.exit_code())
}

/// Whether `--format json` (or `--format=json`) is among the arguments, before a `--`.
fn wants_json(args: impl IntoIterator<Item = OsString>) -> bool {
    let mut json = false;
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else { continue };
        match arg {
            "--" => break,
            "--format" => json = args.next().is_some_and(|v| v == "json"),
            _ => {
                if let Some(value) = arg.strip_prefix("--format=") {
                    json = value == "json";
                }
            }
        }
    }
    json
}

#[cfg(test)]
mod tests {
    use super::wants_json;

    fn asks(args: &[&str]) -> bool {
        wants_json(
            std::iter::once("invsync")
                .chain(args.iter().copied())
                .map(Into::into),
        )
    }

    #[test]
    fn the_format_is_found_in_raw_arguments() {
        assert!(asks(&["--format", "json", "sync"]));
        assert!(asks(&["sync", "--store", "x", "--format=json"]));
        assert!(!asks(&["sync", "--format", "table"]));
        assert!(
            !asks(&["--format", "json", "--format", "table"]),
            "the last one wins"
        );
        assert!(!asks(&["sync", "--", "--format", "json"]));
        assert!(!asks(&["--store", "--format"]));
        assert!(!asks(&[]));
    }
}
