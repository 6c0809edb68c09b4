//! `mapsync`: synchronises an ISP's fibre network from OZmap into a local
//! store its management system reads.

mod api;
mod bindings;
mod bindings_local;
mod daemon;
mod db;
mod demo;
mod elements;
mod fetch;
mod guest_log;
mod identification;
mod integration;
mod outbox;
mod progress;
mod projects;
mod run_store;
mod runs;
mod runtime;
mod schedule;
mod serve;
mod services;
mod summary;
mod sync_run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::integration::NewIntegration;
use crate::sync_run::{SyncReport, Tuning};

#[derive(Parser)]
#[command(
    name = "mapsync",
    version,
    about = "Synchronises an ISP's fibre network (OZmap) into its management system"
)]
struct Cli {
    /// The SQLite database file.
    #[arg(long, global = true, env = "MAPSYNC_DB", default_value = "mapsync.db")]
    db: PathBuf,
    /// More log lines on stderr (-v info, -vv debug); MAPSYNC_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        #[command(flatten)]
        tuning: TuningArgs,
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
    Demo,
}

#[derive(Args)]
struct TuningArgs {
    /// Elements asked for per page (default 500).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    page_size: u32,
    /// Attempts per request before giving up (default 5).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    max_attempts: u32,
    /// Bound on each platform request in milliseconds (default 30000).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    timeout_ms: u32,
}

#[derive(Subcommand)]
enum ProjectCommand {
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
enum IntegrationCommand {
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
        /// e.g. https://yourisp.ozmap.com.br:9994.
        #[arg(long)]
        api_url: String,
        /// An OZmap API key (OZmap: Settings > API keys), a long token sent as is.
        #[arg(long)]
        api_key: String,
        /// An OZmap login allowed to use the API; used when the key is refused
        /// or a session expires.
        #[arg(long)]
        user: String,
        /// That login's password.
        #[arg(long)]
        password: String,
        /// Synchronise only this project, named exactly as OZmap shows it
        /// (case and spaces count). Poles are always synchronised: they belong
        /// to every project. Leave out for every project.
        #[arg(long)]
        project_name: Option<String>,
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
enum ServicesCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAPSYNC_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},cranelift=warn,wasmtime=warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo => return demo::run(),
        Command::Integration(command) => integration_command(&db::open(&cli.db)?, command)?,
        Command::Services(command) => services_command(&db::open(&cli.db)?, command)?,
        Command::Serve { listen, parallel } => return serve::run(&cli.db, listen, parallel),
        Command::Runs {
            integration,
            limit,
            json,
        } => {
            let conn = db::open(&cli.db)?;
            let runs = runs::history(&conn, integration.as_deref(), limit)?;
            if json {
                print_json(&runs)?;
            } else {
                for r in &runs {
                    println!(
                        "{:>5}  {}  {:<10} {:<11} {}  {}",
                        r.id,
                        r.started_at,
                        r.trigger,
                        r.outcome,
                        r.integration,
                        r.error.as_deref().unwrap_or("")
                    );
                }
            }
        }
        Command::Status { json } => {
            let conn = db::open(&cli.db)?;
            let status = runs::status(&conn)?;
            if json {
                print_json(&status)?;
            } else {
                for s in &status {
                    let last = s
                        .last_run
                        .as_ref()
                        .map(|r| format!("{} ({})", r.started_at, r.outcome))
                        .unwrap_or("never".into());
                    let next = s
                        .next_run
                        .as_deref()
                        .unwrap_or("not scheduled (link it to a project)");
                    println!("{}  last run: {last}  next run: {next}", s.integration);
                }
            }
        }
        Command::Project(command) => project_command(&db::open(&cli.db)?, command)?,
        Command::Bind {
            service,
            splitter,
            port,
        } => {
            let conn = db::open(&cli.db)?;
            let bound = bindings_local::bind(&conn, &service, &splitter, port)?;
            println!(
                "service {:?} bound to port {} of splitter {} (pending: confirm with `mapsync confirm --service {}`)",
                bound.service, bound.port, bound.splitter, bound.service
            );
        }
        Command::Confirm { service } => {
            let conn = db::open(&cli.db)?;
            let runtime = runtime::Runtime::new()?;
            let binding = outbox::confirm(&conn, &runtime, &service)?;
            return Ok(print_push_outcome(&binding));
        }
        Command::Unbind { service } => {
            let conn = db::open(&cli.db)?;
            let runtime = runtime::Runtime::new()?;
            match outbox::unbind(&conn, &runtime, &service)? {
                None => println!("service {service:?} unbound"),
                Some(left) => {
                    println!(
                        "service {service:?} is still bound ({}): {}",
                        left.state,
                        left.reason.as_deref().unwrap_or(
                            "the platform has not confirmed the deletion yet; it will be retried"
                        )
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Bindings { service, json } => {
            bindings_command(&db::open(&cli.db)?, service, json)?
        }
        Command::Identification { json } => {
            let report = identification::report(&db::open(&cli.db)?)?;
            if json {
                print_json(&report)?;
            } else {
                let c = &report.counts;
                println!("identified clients              {}", c.identified);
                println!("platform clients without code   {}", c.clients_without_code);
                println!(
                    "codes matching no service       {}",
                    c.codes_without_service
                );
                println!(
                    "services with no platform client {}",
                    c.services_without_client
                );
            }
        }
        Command::Sync {
            integration,
            json,
            tuning,
        } => {
            let conn = db::open(&cli.db)?;
            let integration = integration::get(&conn, &integration)?;
            let runtime = runtime::Runtime::new()?;
            let tuning = Tuning {
                page_size: tuning.page_size,
                max_attempts: tuning.max_attempts,
                timeout_ms: tuning.timeout_ms,
            };
            let progress = if json {
                Box::new(run_store::NoProgress)
            } else {
                progress::for_terminal()
            };
            let (report, _) =
                sync_run::run(conn, &runtime, &integration, "manual", tuning, progress)?;
            if json {
                print_json(&report)?;
            } else {
                print_report(&report);
            }
            return Ok(if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Elements {
            integration,
            kind,
            json,
        } => {
            let conn = db::open(&cli.db)?;
            let integration = integration::get(&conn, &integration)?;
            let list = elements::list(&conn, &integration.id, &kind)?;
            if json {
                print_json(&list)?;
            } else {
                for e in &list {
                    println!(
                        "{}  {}",
                        e["id"].as_str().unwrap_or_default(),
                        e["name"].as_str().unwrap_or_default()
                    );
                }
                eprintln!("{} {kind} element(s)", list.len());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_push_outcome(binding: &bindings_local::Binding) -> ExitCode {
    match binding.state.as_str() {
        "pushed" => {
            println!(
                "service {:?} confirmed and sent to the platform: client {} on property {}",
                binding.service,
                binding.platform_client.as_deref().unwrap_or("?"),
                binding.platform_property.as_deref().unwrap_or("?")
            );
            ExitCode::SUCCESS
        }
        "failed" => {
            println!(
                "service {:?} confirmed, but the platform refused it: {}",
                binding.service,
                binding.reason.as_deref().unwrap_or("no reason given")
            );
            ExitCode::FAILURE
        }
        _ => {
            println!(
                "service {:?} confirmed; the platform could not be reached ({}), the push will be retried",
                binding.service,
                binding.reason.as_deref().unwrap_or("no reason given")
            );
            ExitCode::SUCCESS
        }
    }
}

fn bindings_command(
    conn: &rusqlite::Connection,
    service: Option<String>,
    json: bool,
) -> Result<()> {
    #[derive(serde::Serialize)]
    struct WithHistory {
        #[serde(flatten)]
        binding: bindings_local::Binding,
        history: Vec<bindings_local::Event>,
    }
    let all = match &service {
        Some(service) => match bindings_local::find(conn, service)? {
            Some(found) => vec![found],
            None => anyhow::bail!("service {service:?} has no binding"),
        },
        None => bindings_local::list(conn)?,
    };
    let all: Vec<WithHistory> = all
        .into_iter()
        .map(|b| {
            Ok(WithHistory {
                history: bindings_local::history(conn, &b.service)?,
                binding: b,
            })
        })
        .collect::<Result<_>>()?;
    if json {
        return print_json(&all);
    }
    for b in &all {
        let binding = &b.binding;
        let reason = binding
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        println!(
            "{}  splitter {} port {}  {}{reason}",
            binding.service, binding.splitter, binding.port, binding.state
        );
        if service.is_some() {
            for event in &b.history {
                println!(
                    "    {}  {}  {}",
                    event.at,
                    event.state,
                    event.detail.as_deref().unwrap_or("")
                );
            }
        }
    }
    if all.is_empty() {
        println!("no bindings yet: bind a service with `mapsync bind`");
    }
    Ok(())
}

fn project_command(conn: &rusqlite::Connection, command: ProjectCommand) -> Result<()> {
    match command {
        ProjectCommand::Create { name } => {
            let project = projects::create(conn, &name)?;
            println!("created project {:?}", project.name);
        }
        ProjectCommand::List { json } => {
            let all = projects::list(conn)?;
            if json {
                return print_json(&all);
            }
            for p in &all {
                let fed = p
                    .integration
                    .as_deref()
                    .map(|i| format!("fed by {i:?}"))
                    .unwrap_or("no integration".into());
                println!(
                    "{}  {fed}  {} element(s) no longer synchronised",
                    p.name, p.unsynchronised_elements
                );
            }
            if all.is_empty() {
                println!("no projects yet: create one with `mapsync project create NAME`");
            }
        }
        ProjectCommand::RemoveIntegration { project } => {
            let removed = projects::remove_integration(conn, &project)?;
            println!(
                "integration {removed:?} removed from project {project:?}: it no longer synchronises; the elements it brought stay, marked as no longer synchronised"
            );
        }
    }
    Ok(())
}

fn integration_command(conn: &rusqlite::Connection, command: IntegrationCommand) -> Result<()> {
    match command {
        IntegrationCommand::Schedule { name, at } => {
            serve::set_sync_time(conn, &name, &at)?;
            println!("integration {name:?} synchronises every day at {at} America/Sao_Paulo");
        }
        IntegrationCommand::Link {
            integration,
            existing,
            new,
        } => {
            let to = match (&existing, &new) {
                (Some(name), _) => projects::LinkTo::Existing(name),
                (None, Some(name)) => projects::LinkTo::New(name),
                (None, None) => unreachable!("clap requires one"),
            };
            let (integration, project) = projects::link(conn, &integration, to)?;
            println!(
                "integration {:?} now feeds project {:?}",
                integration.name, project.name
            );
        }
        IntegrationCommand::Add {
            name,
            api_url,
            api_key,
            user,
            password,
            project_name,
        } => {
            let added = integration::add(
                conn,
                NewIntegration {
                    name,
                    api_url,
                    api_key,
                    user,
                    password,
                    project_name,
                },
            )?;
            println!(
                "added integration {:?} ({}), id {}",
                added.name, added.api_url, added.id
            );
        }
        IntegrationCommand::List { json } => {
            let all: Vec<_> = integration::list(conn)?
                .iter()
                .map(integration::Integration::shown)
                .collect();
            if json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("no integrations yet: add one with `mapsync integration add`");
            } else {
                for i in all {
                    let project = i
                        .project_name
                        .as_deref()
                        .map(|p| format!("project {p:?}"))
                        .unwrap_or("all projects".into());
                    println!("{}  {}  {}", i.name, i.api_url, project);
                }
            }
        }
        IntegrationCommand::Show { name, json } => {
            let shown = integration::get(conn, &name)?.shown();
            if json {
                print_json(&shown)?;
            } else {
                println!("name          {}", shown.name);
                println!("id            {}", shown.id);
                println!("api_url       {}", shown.api_url);
                println!("api_key       {}", shown.api_key);
                println!("user          {}", shown.user);
                println!("password      {}", shown.password);
                println!(
                    "project_name  {}",
                    shown.project_name.as_deref().unwrap_or("(all projects)")
                );
                println!("created_at    {}", shown.created_at);
            }
        }
        IntegrationCommand::Remove { name } => {
            let removed = integration::remove(conn, &name)?;
            println!(
                "removed integration {:?} and the elements it synchronised",
                removed.name
            );
        }
    }
    Ok(())
}

fn services_command(conn: &rusqlite::Connection, command: ServicesCommand) -> Result<()> {
    match command {
        ServicesCommand::Import { file, format } => {
            let summary = services::import(conn, &file, format)?;
            println!(
                "imported {}: {} created, {} updated, {} unchanged",
                file.display(),
                summary.created,
                summary.updated,
                summary.unchanged
            );
        }
        ServicesCommand::List { json } => {
            let all = services::list(conn)?;
            if json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("no services yet: import them with `mapsync services import FILE`");
            } else {
                for listed in &all {
                    let s = &listed.service;
                    println!(
                        "{}  {}  {}  {}",
                        s.id_cliente_servico,
                        s.name.as_deref().unwrap_or("-"),
                        s.status.as_deref().unwrap_or("-"),
                        listed
                            .platform_client_id
                            .as_deref()
                            .map_or("not on the platform".into(), |id| format!("client {id}"))
                    );
                }
                eprintln!("{} service(s)", all.len());
            }
        }
        ServicesCommand::Show { id, json } => {
            let listed = services::get(conn, &id)?;
            if json {
                print_json(&listed)?;
            } else {
                let value = serde_json::to_value(&listed)?;
                for field in services::FIELDS.iter().chain(&["platform_client_id"]) {
                    let shown = match &value[field] {
                        serde_json::Value::Null => "-".to_string(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    println!("{field:<20}{shown}");
                }
            }
        }
        ServicesCommand::ExportCodes { out: None } => {
            services::export_codes(conn, &mut std::io::stdout().lock())?;
        }
        ServicesCommand::ExportCodes { out: Some(path) } => {
            let mut csv = Vec::new();
            let rows = services::export_codes(conn, &mut csv)?;
            std::fs::write(&path, csv)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            eprintln!("wrote {rows} service(s) to {}", path.display());
        }
    }
    Ok(())
}

pub fn print_report(report: &SyncReport) {
    match &report.error {
        None => println!(
            "sync of {:?} succeeded (run {})",
            report.integration, report.run_id
        ),
        Some(error) => {
            println!(
                "sync of {:?} FAILED (run {}): {error}",
                report.integration, report.run_id
            );
            println!("nothing stored earlier was changed");
            return;
        }
    }
    println!(
        "  {:<10} {:>8} {:>8} {:>10} {:>8} {:>8}",
        "kind", "created", "updated", "unchanged", "removed", "invalid"
    );
    for kind in elements::KINDS {
        let c = report.kinds.get(kind).copied().unwrap_or_default();
        println!(
            "  {kind:<10} {:>8} {:>8} {:>10} {:>8} {:>8}",
            c.created, c.updated, c.unchanged, c.removed, c.invalid
        );
    }
    println!("  {} requests, {} retried", report.requests, report.retries);
    if !report.invalid.is_empty() {
        println!("invalid records (skipped):");
        for i in &report.invalid {
            println!(
                "  {} {}: {}",
                i.kind,
                i.id.as_deref().unwrap_or("(no id)"),
                i.reason
            );
        }
    }
}
