//! The command line's dispatch: each command to the functions that do it,
//! and a failure to its message, its next step and its exit code.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::commands::{
    bindings_command, integration_command, print_json, print_push_outcome, print_report,
    project_command, services_command,
};
use crate::cli::{Cli, Command, IntegrationCommand, ProjectCommand, ServicesCommand};

use crate::cli::{commands, demo, progress};
use crate::component;
use crate::daemon::serve;
use crate::store;
use crate::store::{bindings, elements, integrations, runs, staging as run_store};
use crate::sync::run::Tuning;
use crate::sync::{identification, outbox, run as sync_run};

/// Run a parsed command line; a failure is printed with its hint and ends
/// with the exit code of its kind (see `error::exit_code`).
pub fn main(cli: Cli) -> ExitCode {
    if only_reads_and_prints(&cli.command) {
        restore_default_sigpipe();
    }
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::text::shown_lines(&format!("{e:#}")));
            if let Some(hint) = crate::error::Refusal::of(&e).and_then(|r| r.hint.as_ref()) {
                eprintln!("hint: {}", hint.command());
            }
            ExitCode::from(crate::error::exit_code(&e))
        }
    }
}

/// Commands that only read the store and print, whose output is piped into
/// other tools (`mapsync elements --json | head`).
fn only_reads_and_prints(command: &Command) -> bool {
    matches!(
        command,
        Command::Elements { .. }
            | Command::Runs { .. }
            | Command::Status { .. }
            | Command::Bindings { .. }
            | Command::Identification { .. }
            | Command::Integration(
                IntegrationCommand::List { .. } | IntegrationCommand::Show { .. }
            )
            | Command::Project(ProjectCommand::List { .. })
            | Command::Services(
                ServicesCommand::List { .. }
                    | ServicesCommand::Show { .. }
                    | ServicesCommand::ExportCodes { .. }
            )
    )
}

/// Rust starts with SIGPIPE ignored, so a reader that stops early (`| head`)
/// turns the next print into a panic. For the commands that only print, the
/// default comes back: they end quietly, as other Unix tools do. The rest
/// keep it ignored: they talk over sockets (serve's API, a sync's or a
/// push's requests, the demo's own server), where a peer hanging up must be
/// an error they handle, not a signal that kills them half-way.
#[cfg(unix)]
fn restore_default_sigpipe() {
    // SAFETY: at the start of main, before any thread exists; setting a
    // signal's disposition to its default touches no memory of ours.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_default_sigpipe() {}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAPSYNC_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},cranelift=warn,wasmtime=warn"))
    });
    // Colour codes only for a person at a terminal: a log file or a
    // journal would keep them as noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

/// The database, with what an interrupted process left undone finished.
fn open(location: &store::Location) -> Result<store::Db> {
    let conn = store::open(location)?;
    // A command's runs and pushes are leases too: beat for them.
    store::leases::keep_beating(location);
    sync_run::finish_interrupted(&conn)?;
    Ok(conn)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo { serve, listen } => return demo::run(serve.then_some(listen)),
        Command::Integration(command) => integration_command(&open(&cli.db)?, command)?,
        Command::Services(command) => services_command(&open(&cli.db)?, command)?,
        Command::Serve {
            listen,
            parallel,
            max_requests,
        } => return serve::run(&cli.db, listen, parallel, max_requests.into()),
        Command::Runs {
            integration,
            limit,
            json,
        } => {
            let conn = open(&cli.db)?;
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
                        crate::text::shown(&r.integration),
                        crate::text::shown(r.error.as_deref().unwrap_or(""))
                    );
                }
            }
        }
        Command::Status { json } => {
            let conn = open(&cli.db)?;
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
                    println!(
                        "{}  last run: {last}  next run: {next}",
                        crate::text::shown(&s.integration)
                    );
                }
            }
        }
        Command::Project(command) => project_command(&open(&cli.db)?, command)?,
        Command::Bind {
            service,
            splitter,
            port,
            moving,
        } => {
            let conn = open(&cli.db)?;
            let bound = bindings::bind(&conn, &service, &splitter, port, moving)?;
            let what = match &bound.moving_property {
                Some(property) => format!("moving platform property {property} to"),
                None => "bound to".to_string(),
            };
            println!(
                "service {:?} {what} port {} of splitter {} (pending: confirm with `mapsync confirm --service {}`)",
                bound.service,
                bound.port,
                crate::text::shown(&bound.splitter),
                crate::text::shown(&bound.service)
            );
        }
        Command::Confirm { service } => {
            let conn = open(&cli.db)?;
            let runtime = component::Runtime::new()?;
            let binding = outbox::confirm(&conn, &runtime, &service)?;
            return Ok(print_push_outcome(&binding));
        }
        Command::Unbind { service } => {
            let conn = open(&cli.db)?;
            let runtime = component::Runtime::new()?;
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
        Command::Bindings { service, json } => bindings_command(&open(&cli.db)?, service, json)?,
        Command::Identification { json } => {
            let report = identification::report(&open(&cli.db)?, &component::Runtime::new()?)?;
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
            allow_removals,
            full,
            tuning,
        } => {
            let conn = open(&cli.db)?;
            let integration = integrations::get(&conn, &integration)?;
            let runtime = component::Runtime::new()?;
            let tuning = Tuning {
                page_size: tuning.page_size,
                max_attempts: tuning.max_attempts,
                timeout_ms: tuning.timeout_ms,
                pages_in_flight: tuning.pages_in_flight,
                allow_removals,
                full,
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
        Command::Matches {
            decision,
            json,
            min_score,
        } => {
            let conn = open(&cli.db)?;
            let runtime = component::Runtime::new()?;
            commands::matches_command(&conn, &runtime, decision, json, min_score)?;
        }
        Command::Elements {
            integration,
            kind,
            json,
        } => {
            let conn = open(&cli.db)?;
            let integration = integrations::get(&conn, &integration)?;
            let Some(of_kind) = run_store::kind_named(&kind) else {
                crate::refuse!(crate::error::invalid(
                    "kind",
                    format!(
                        "unknown kind {kind:?}; kinds: {}",
                        elements::KINDS.join(", ")
                    )
                ));
            };
            let list = elements::list(&conn, &integration.id, of_kind)?;
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
