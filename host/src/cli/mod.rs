//! The command line: every command, flag and hint. A public contract:
//! scripts rely on these names.

pub mod commands;
pub mod demo;
pub mod dispatch;
pub mod progress;
pub mod summary;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{services, store::elements};

#[derive(Parser)]
#[command(
    name = "mapsync",
    // mapsync's own version, and the WIT package its component keeps (what
    // an embedder of the component needs to match).
    version = concat!(env!("CARGO_PKG_VERSION"), " (WIT ", env!("MAPSYNC_WIT_PACKAGE"), ")"),
    about = "Synchronises an ISP's fibre network (OZmap) into its management system"
)]
pub struct Cli {
    /// The store: a SQLite file (embedded, the default), or a postgres:// URL
    /// of a PostgreSQL database that several hosts share.
    #[arg(long, global = true, env = "MAPSYNC_DB", default_value = "mapsync.db")]
    pub db: crate::store::Location,
    /// More log lines on stderr (-v info, -vv debug); MAPSYNC_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Add, list, show or remove integrations (platform accounts).
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// Import the ISP's customer services from its management system, list
    /// them, and export the codes file for OZmap.
    #[command(subcommand)]
    Services(ServicesCommand),
    /// Synchronise one integration now.
    Sync {
        /// The integration's name.
        #[arg(long)]
        integration: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Apply the removals an earlier run held (more than the
        /// integration's --max-removal-percent of a kind), once you checked
        /// that they are real.
        #[arg(long)]
        allow_removals: bool,
        /// Read every element, not only what changed since the last sync.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        tuning: TuningArgs,
    },
    /// Suggested matches between services and platform clients without a
    /// usable code, with their score and reasons; accept or reject one.
    Matches {
        #[command(subcommand)]
        decision: Option<MatchCommand>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
        /// Only suggestions scoring at least this, from 0 to 1.
        #[arg(long, default_value_t = 0.8)]
        min_score: f64,
    },
    /// Create or list local mapping projects, or remove a project's integration.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Bind a service to a port of a synchronised service splitter (pending
    /// until confirmed).
    Bind {
        /// The service's id_cliente_servico.
        #[arg(long)]
        service: String,
        /// The platform's id of a service splitter (see `elements --kind splitter`).
        #[arg(long)]
        splitter: String,
        /// The port, counted from 1.
        #[arg(long)]
        port: u32,
        /// Move a service that already has a binding: one the platform
        /// places is moved there when confirmed (its property reconnected,
        /// nothing created).
        #[arg(long = "move")]
        moving: bool,
    },
    /// Confirm a service's binding and send its informative data to the platform.
    Confirm {
        #[arg(long)]
        service: String,
    },
    /// Remove a service's binding (deleting on the platform only what mapsync created).
    Unbind {
        #[arg(long)]
        service: String,
    },
    /// List bindings with their state and audit trail.
    Bindings {
        /// Only this service's binding and history.
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Which platform clients are identified by a service's code, and which are not.
    Identification {
        #[arg(long)]
        json: bool,
    },
    /// Run as a service: the daily schedule (04:00 America/Sao_Paulo by
    /// default), on-demand syncs and the HTTP API, until SIGTERM or Ctrl-C.
    Serve {
        /// Address of the HTTP API.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: std::net::SocketAddr,
        /// Syncs of different integrations that may run at once.
        #[arg(long, default_value_t = 2)]
        parallel: usize,
        /// Requests to the platforms under way at once, across every
        /// integration (each also keeps its own bound, --pages-in-flight).
        #[arg(long, default_value_t = crate::component::fetch::DEFAULT_HOST_REQUESTS as u16,
              value_parser = clap::value_parser!(u16).range(1..=1024))]
        max_requests: u16,
    },
    /// The history of sync runs, newest first.
    Runs {
        /// Only this integration's runs.
        #[arg(long)]
        integration: Option<String>,
        /// How many runs at most.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Each integration's last run and next planned run.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// List the synchronised elements of one kind.
    Elements {
        #[arg(long)]
        integration: String,
        #[arg(long, value_parser = elements::KINDS)]
        kind: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// The main job on embedded defaults: a generated network served by the
    /// built-in OZmap test server, synchronised into a fresh database.
    Demo {
        /// Then keep serving it: the web console and the API on the demo's
        /// data, with the test server still up, until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Address of the console and API with `--serve`.
        #[arg(long, default_value = "127.0.0.1:8787", requires = "serve")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Args)]
pub struct TuningArgs {
    /// Elements asked for per page (default 1000; a platform that answers
    /// fewer is followed at its size).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub page_size: u32,
    /// Attempts per request before giving up (default 5).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub max_attempts: u32,
    /// Bound on each platform request in milliseconds (default 30000).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub timeout_ms: u32,
    /// Requests of the run under way at once, over all its listings
    /// (default 12; 1 reads one page at a time; at most 16).
    #[arg(long, default_value_t = 0, hide_default_value = true,
          value_parser = clap::value_parser!(u32).range(0..=16))]
    pub pages_in_flight: u32,
}

/// What an integration synchronises.
#[derive(Args)]
pub struct ScopeArgs {
    /// The element kinds to synchronise, comma-separated, from pole, box,
    /// splitter, client, property (default: all; projects are always read).
    /// A kind left out is neither read nor removed.
    #[arg(long, value_name = "KINDS")]
    pub kinds: Option<String>,
    /// Hold a sync whose complete listing would remove more than this share
    /// (percent) of a kind's stored elements, until confirmed with
    /// `sync --allow-removals` (default 20; 100 turns the guard off).
    #[arg(long, value_name = "PERCENT")]
    pub max_removal_percent: Option<u8>,
    /// Syncs read only what changed since the last one; one reads every
    /// element at least this often, in hours (default 168, a week).
    #[arg(long, value_name = "HOURS")]
    pub full_sync_hours: Option<u32>,
    /// While `serve` runs, read what changed this often, in minutes, beside
    /// the daily sync, so that port states stay fresh all day (default 15;
    /// 0 turns it off; at most 1440).
    #[arg(long, value_name = "MINUTES")]
    pub refresh_every: Option<u32>,
    /// Requests a sync keeps under way at once, over all its listings
    /// (default 12; 1 asks one at a time; at most 16); `sync
    /// --pages-in-flight` overrides it for one run.
    #[arg(long, value_name = "N")]
    pub requests_at_once: Option<u32>,
    /// At most this many requests a sync starts in any second, for a
    /// platform that asks for less (default 0: no ceiling; the platform's
    /// 429 and Retry-After are honoured all the same).
    #[arg(long, value_name = "N")]
    pub requests_per_second: Option<u32>,
}

impl ScopeArgs {
    pub fn change(&self) -> crate::store::scope::Change {
        crate::store::scope::Change {
            kinds: self.kinds.as_deref().map(crate::store::scope::parse_kinds),
            max_removal_percent: self.max_removal_percent,
            full_sync_hours: self.full_sync_hours,
            refresh_every: self.refresh_every,
            requests_at_once: self.requests_at_once,
            requests_per_second: self.requests_per_second,
        }
    }
}

#[derive(Subcommand)]
pub enum MatchCommand {
    /// This platform client is that service: bind the service to the
    /// client's port and send it the service's data, its code included.
    Accept {
        /// The match's id, as `matches` lists it.
        id: String,
    },
    /// This platform client is not that service: never suggest it again.
    Reject {
        /// The match's id, as `matches` lists it.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create a local mapping project.
    Create { name: String },
    /// List projects with the integration that feeds each.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove the project's integration: it stops synchronising; the elements
    /// it brought stay, shown as no longer synchronised.
    RemoveIntegration { project: String },
}

#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Link an integration to the one mapping project it feeds.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["existing", "new"])))]
    Link {
        /// The integration's name.
        #[arg(long)]
        integration: String,
        /// An existing project's name (see `mapsync project list`).
        #[arg(long)]
        existing: Option<String>,
        /// Create a project with this name and link to it.
        #[arg(long)]
        new: Option<String>,
    },
    /// Register a platform account.
    Add {
        /// A name for this integration, e.g. "ozmap-centro".
        #[arg(long)]
        name: String,
        /// The platform's address: scheme, host and port, as in your browser,
        /// e.g. https://yourisp.ozmap.com.br:9994 (mapsync adds /api/v2
        /// itself).
        #[arg(long)]
        api_url: String,
        /// An OZmap API key (OZmap: Settings > API keys), a long token sent as
        /// is. On the command line `ps` and the shell's history see it: rather
        /// give it in MAPSYNC_API_KEY or with --api-key-stdin.
        #[arg(long, conflicts_with = "api_key_stdin")]
        api_key: Option<String>,
        /// Read the API key from standard input: its first line.
        #[arg(long)]
        api_key_stdin: bool,
        /// An OZmap login allowed to use the API; used when the key is refused
        /// or a session expires.
        #[arg(long)]
        user: String,
        /// That login's password; rather give it in MAPSYNC_PASSWORD or with
        /// --password-stdin.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input: its first line, or its
        /// second when --api-key-stdin reads the first.
        #[arg(long)]
        password_stdin: bool,
        /// Synchronise only this project, named exactly as OZmap shows it
        /// (case and spaces count). Poles are always synchronised: they belong
        /// to every project. Leave out for every project.
        #[arg(long)]
        project_name: Option<String>,
        /// Take a plain http:// address to a public host all the same: the
        /// API key and password then cross the internet in clear. Kept and
        /// shown. Without it such an address is refused; http:// to a
        /// loopback or private address is taken with a warning.
        #[arg(long)]
        insecure_http: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Show or change what an integration synchronises and how often: its
    /// element kinds, its removal guard, its full and its refresh syncs.
    #[command(visible_alias = "set")]
    Scope {
        name: String,
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long)]
        json: bool,
    },
    /// List integrations (secrets masked).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set the time of day of an integration's daily sync (America/Sao_Paulo).
    Schedule {
        name: String,
        /// HH:MM, 24-hour; the default is 04:00.
        #[arg(long)]
        at: String,
    },
    /// Show one integration (secrets masked).
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an integration and what it synchronised.
    Remove { name: String },
}

#[derive(Subcommand)]
pub enum ServicesCommand {
    /// Create or update services from the management system's export; a file
    /// with any bad row is refused whole, and no service is ever deleted.
    Import {
        /// A CSV file (header row naming the columns, `,` or `;` separated,
        /// UTF-8) or a JSON array of objects, e.g. servicos.csv. Columns:
        /// id_cliente_servico (required), name, document, address, lat, lng,
        /// pppoe_login, onu_serial, onu_mac, status.
        file: PathBuf,
        /// The file's format, when its extension (.csv or .json) does not
        /// tell it.
        #[arg(long, value_enum)]
        format: Option<services::Format>,
        /// When the file is refused, write every bad row to REPORT as CSV
        /// (columns at, reason); the error itself lists the first 100.
        #[arg(long, value_name = "REPORT")]
        report: Option<PathBuf>,
    },
    /// List services, each with the platform client whose code is its id.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one service.
    Show {
        /// Its id_cliente_servico, as in the management system.
        id: String,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write the CSV sent to OZmap so it can fill in its clients' codes:
    /// id_cliente_servico, name, document, address, lat, lng, ozmap_client_id.
    ExportCodes {
        /// The file to write, e.g. codigos-ozmap.csv; standard output if left
        /// out.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}
