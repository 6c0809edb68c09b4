//! `mapsync`: synchronises an ISP's fibre network from OZmap into a local
//! store its management system reads.

mod bindings;
mod db;
mod demo;
mod elements;
mod fetch;
mod guest_log;
mod integration;
mod progress;
mod run_store;
mod runtime;
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
enum IntegrationCommand {
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
    /// Show one integration (secrets masked).
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an integration and what it synchronised.
    Remove { name: String },
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

fn integration_command(conn: &rusqlite::Connection, command: IntegrationCommand) -> Result<()> {
    match command {
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
