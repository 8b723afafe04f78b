//! The command line (product.md, "Command-line contract").

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Keeps product price and quantity in sync between your accounting software and your
/// online stores.
///
/// invsync reads the accounting side and each store, matches products by SKU (or by the
/// manual mappings you add with `invsync map`), and fixes what differs: quantity always
/// flows out of the master inventory location, and products in unposted orders, display-only
/// products and ambiguous SKUs are never touched. Every run is recorded; read the history
/// with `invsync runs`.
///
/// Start with `invsync config check`, then `invsync sync ... --dry-run`.
#[derive(Debug, Parser)]
#[command(
    name = "invsync",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 ok, 1 the run had failures, 2 usage or config error.\n\
Environment: INVSYNC_CONFIG (config file), INVSYNC_LOG (log filter, e.g. \"info\" or \"invsync=debug\"),\n\
INVSYNC__SECTION__KEY (overrides a config key, e.g. INVSYNC__DATABASE__URL)."
)]
pub struct Cli {
    /// The configuration file [default: $INVSYNC_CONFIG, else ./invsync.toml]
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output of read commands: a table for people, JSON for scripts
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Log level on stderr (error, warn, info, debug, trace) or a tracing filter
    #[arg(
        long,
        global = true,
        value_name = "FILTER",
        env = "INVSYNC_LOG",
        default_value = "warn"
    )]
    pub log: String,

    /// Log lines as JSON objects instead of text
    #[arg(long, global = true)]
    pub log_json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the schedules of the config until SIGTERM (the systemd service)
    ///
    /// Every [[schedules]] entry runs on its cadence through the same engine as `sync`.
    /// Due times live in the database, so restarts keep them and several daemons on one
    /// Postgres run each slot once. SIGHUP reloads the config; SIGTERM lets runs in flight
    /// finish within [daemon] shutdown_grace. /healthz and /metrics are served on
    /// [daemon] listen.
    Daemon,

    /// Sync one store now, in bulk (a manual run)
    ///
    /// Pick the side that is wrong and gets updated (`--update store` copies the accounting
    /// side's values to the store; `--update accounting` the other way), the fields, and
    /// the products. Use --dry-run first: it shows every change and writes nothing.
    #[command(after_help = "Examples:\n  \
invsync sync --store shop --update store --fields price,quantity --dry-run\n  \
invsync sync --store shop --update store --fields quantity --status out-of-sync\n  \
invsync sync --store shop --update accounting --fields price --sku MUG-1,MUG-2")]
    Sync(SyncArgs),

    /// Show every product of one store with its status
    ///
    /// Statuses: in-sync, out-of-sync (price and/or quantity differ), in-orders (in a store
    /// order not yet posted to the accounting side), base (display-only: parents, bundles,
    /// untracked), unmapped (no partner on the other side), conflict (SKU used twice).
    Status(StatusArgs),

    /// List recorded runs, newest first; `runs show ID` for one run's items
    Runs(RunsArgs),

    /// Manage manual mappings between store SKUs and accounting SKUs
    #[command(subcommand)]
    Map(MapCommand),

    /// Configuration commands
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Apply database migrations (also done automatically at start)
    Migrate,

    /// Connect invsync to the accounting system (OAuth), or connect it again
    #[command(subcommand)]
    Auth(AuthCommand),

    /// The QuickBooks Web Connector (QuickBooks Desktop and POS)
    #[command(subcommand, name = "web-connector")]
    WebConnector(WebConnectorCommand),
}

#[derive(Debug, Subcommand)]
pub enum WebConnectorCommand {
    /// Write the .qwc file to load into the QuickBooks Web Connector
    ///
    /// It names [web_connector] public_url (AppURL), the support page the daemon serves
    /// (AppSupport), the user, QBType, and how often to run (the shortest schedule). Its
    /// OwnerID and FileID are kept in the database: writing it again gives the same
    /// application. In the Web Connector: Add an application, pick the file, allow it in
    /// QuickBooks, then type the password of [web_connector] password.
    #[command(after_help = "Example:\n  invsync web-connector qwc --out invsync.qwc")]
    Qwc {
        /// Where to write the file
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Connect QuickBooks Online: authorise invsync for the company and store its tokens
    ///
    /// Prints the URL to open in a browser; sign in, pick the company of
    /// accounting.realm_id and choose Connect. QuickBooks then redirects to the app's
    /// redirect URI: paste that whole address (or just its `code`) here. invsync exchanges
    /// it for tokens and stores them, encrypted with accounting.token_key, in the database,
    /// replacing what was there. Run it for the first connection, or when syncs fail with
    /// "QuickBooks Online needs to be connected again".
    #[command(
        name = "quickbooks-online",
        after_help = "Examples:\n  \
invsync auth quickbooks-online --redirect-uri https://developer.intuit.com/v2/OAuth2Playground/RedirectUrl\n  \
invsync auth quickbooks-online --code 'https://example.com/callback?code=AB12&state=...&realmId=9130...'"
    )]
    QuickbooksOnline(QboAuthArgs),
}

#[derive(Debug, Args)]
pub struct QboAuthArgs {
    /// A redirect URI registered for the app [default: accounting.redirect_uri]
    #[arg(long, value_name = "URI")]
    pub redirect_uri: Option<String>,

    /// The authorisation code, or the whole URL QuickBooks redirected to (else asked for)
    #[arg(long, value_name = "CODE_OR_URL")]
    pub code: Option<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The store to sync (a [stores.NAME] of the config)
    #[arg(long)]
    pub store: String,

    /// The side that is wrong and gets updated
    #[arg(long, value_enum)]
    pub update: UpdateSide,

    /// Fields to update, comma-separated: price, quantity (accounting side: exactly one)
    #[arg(long, value_delimiter = ',', required = true, value_enum)]
    pub fields: Vec<FieldArg>,

    /// Only these SKUs (accounting or store SKU), comma-separated
    #[arg(long, value_delimiter = ',', group = "selection")]
    pub sku: Vec<String>,

    /// Only products with this status, comma-separated (e.g. out-of-sync)
    #[arg(long, value_delimiter = ',', group = "selection", value_enum)]
    pub status: Vec<StatusArg>,

    /// Every product (the default when no --sku or --status is given)
    #[arg(long, group = "selection")]
    pub all: bool,

    /// Show what would change; write nothing and record nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The store to show
    #[arg(long)]
    pub store: String,

    /// Only products with this status, comma-separated
    #[arg(long, value_delimiter = ',', value_enum)]
    pub status: Vec<StatusArg>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub show: Option<RunsCommand>,

    /// Only this store's runs
    #[arg(long)]
    pub store: Option<String>,

    /// At most this many runs
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run with every item it changed, failed or skipped
    Show {
        /// The run id (first column of `invsync runs`)
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum MapCommand {
    /// Link a store SKU to an accounting SKU (replaces that store SKU's previous mapping)
    Add {
        #[arg(long)]
        store: String,
        #[arg(long)]
        store_sku: String,
        #[arg(long)]
        accounting_sku: String,
    },
    /// List manual mappings
    List {
        /// Only this store's mappings
        #[arg(long)]
        store: Option<String>,
    },
    /// Remove the manual mapping of a store SKU (it matches by SKU again)
    Remove {
        #[arg(long)]
        store: String,
        #[arg(long)]
        store_sku: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and show each schedule's next run times
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpdateSide {
    Store,
    Accounting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FieldArg {
    Price,
    Quantity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    InSync,
    OutOfSync,
    InOrders,
    Base,
    Unmapped,
    Conflict,
}

impl From<UpdateSide> for invsync_core::Side {
    fn from(s: UpdateSide) -> Self {
        match s {
            UpdateSide::Store => invsync_core::Side::Store,
            UpdateSide::Accounting => invsync_core::Side::Accounting,
        }
    }
}

impl From<FieldArg> for invsync_core::Field {
    fn from(f: FieldArg) -> Self {
        match f {
            FieldArg::Price => invsync_core::Field::Price,
            FieldArg::Quantity => invsync_core::Field::Quantity,
        }
    }
}

impl From<StatusArg> for invsync_core::Status {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::InSync => invsync_core::Status::InSync,
            StatusArg::OutOfSync => invsync_core::Status::OutOfSync,
            StatusArg::InOrders => invsync_core::Status::InOrders,
            StatusArg::Base => invsync_core::Status::Base,
            StatusArg::Unmapped => invsync_core::Status::Unmapped,
            StatusArg::Conflict => invsync_core::Status::Conflict,
        }
    }
}
