//! What the grouped commands do and print: integrations, projects,
//! services, bindings and sync reports.

use crate::error::not_found;
use crate::refuse;
use std::process::ExitCode;

use anyhow::Result;

use crate::text::{self, shown};

use crate::cli::{IntegrationCommand, ProjectCommand, ServicesCommand};
use crate::store::integrations::NewIntegration;
use crate::store::states::BindingState;
use crate::sync::run::SyncReport;
use crate::{
    daemon::serve, services, store::bindings, store::elements, store::integrations, store::projects,
};

/// Print a JSON document. A reader that stopped reading (`| head`) is no
/// error: the commands that keep SIGPIPE ignored (see `main`) end quietly.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    use std::io::Write;
    // Names from the store and the platform may hold what acts on a
    // terminal; serde escapes only C0.
    let text = serde_json::to_string_pretty(value)?;
    let text = crate::text::json_shown(&text);
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

pub fn print_push_outcome(binding: &bindings::Binding) -> ExitCode {
    match binding.state {
        BindingState::Pushed => {
            println!(
                "service {:?} confirmed and sent to the platform: client {} on property {}",
                binding.service,
                shown(binding.platform_client.as_deref().unwrap_or("?")),
                shown(binding.platform_property.as_deref().unwrap_or("?"))
            );
            ExitCode::SUCCESS
        }
        BindingState::Failed => {
            println!(
                "service {:?} confirmed, but the platform refused it: {}",
                binding.service,
                shown(binding.reason.as_deref().unwrap_or("no reason given"))
            );
            ExitCode::FAILURE
        }
        _ => {
            println!(
                "service {:?} confirmed; the platform could not be reached ({}), the push will be retried",
                binding.service,
                shown(binding.reason.as_deref().unwrap_or("no reason given"))
            );
            ExitCode::SUCCESS
        }
    }
}

pub fn bindings_command(
    conn: &crate::store::Db,
    service: Option<String>,
    json: bool,
) -> Result<()> {
    #[derive(serde::Serialize)]
    struct WithHistory {
        #[serde(flatten)]
        binding: bindings::Binding,
        history: Vec<bindings::Event>,
    }
    let all = match &service {
        Some(service) => match bindings::find(conn, service)? {
            Some(found) => vec![found],
            None => refuse!(not_found(format!(
                "service {} has no binding",
                crate::text::echo(service)
            ))),
        },
        None => bindings::list(conn)?,
    };
    let all: Vec<WithHistory> = all
        .into_iter()
        .map(|b| {
            Ok(WithHistory {
                history: bindings::history(conn, &b.service)?,
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
            .map(|r| format!(": {}", shown(r)))
            .unwrap_or_default();
        println!(
            "{}  splitter {} port {}  {}{reason}",
            shown(&binding.service),
            shown(&binding.splitter),
            binding.port,
            binding.state
        );
        if service.is_some() {
            for event in &b.history {
                println!(
                    "    {}  {}  {}",
                    event.at,
                    event.state,
                    shown(event.detail.as_deref().unwrap_or(""))
                );
            }
        }
    }
    if all.is_empty() {
        println!("no bindings yet: bind a service with `mapsync bind`");
    }
    Ok(())
}

pub fn project_command(conn: &crate::store::Db, command: ProjectCommand) -> Result<()> {
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
                    shown(&p.name),
                    p.unsynchronised_elements
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

pub fn integration_command(conn: &crate::store::Db, command: IntegrationCommand) -> Result<()> {
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
            api_key_stdin,
            user,
            password,
            password_stdin,
            project_name,
            insecure_http,
            scope,
        } => {
            let (key_line, password_line) = if api_key_stdin || password_stdin {
                secrets_from(std::io::stdin().lock(), api_key_stdin, password_stdin)?
            } else {
                (None, None)
            };
            let api_key = secret("--api-key", api_key.or(key_line), "MAPSYNC_API_KEY")?;
            let password = secret("--password", password.or(password_line), "MAPSYNC_PASSWORD")?;
            let dropped = integrations::dropped_api_path(&api_url);
            // The scope is checked before anything is kept.
            let tx = conn.transaction()?;
            let added = integrations::add(
                &tx,
                NewIntegration {
                    name,
                    api_url,
                    api_key,
                    user,
                    password,
                    project_name,
                    insecure_http,
                },
            )?;
            crate::store::scope::set(&tx, &added, scope.change(), true)?;
            tx.commit()?;
            if let Some(dropped) = dropped {
                eprintln!(
                    "note: mapsync adds /api/v2 itself; stored the address as {} (without {dropped})",
                    added.api_url
                );
            }
            if let Some(warning) = integrations::plain_http(&added.api_url, added.insecure_http)? {
                eprintln!("warning: {warning}");
            }
            println!(
                "added integration {:?} ({}), id {}",
                added.name, added.api_url, added.id
            );
        }
        IntegrationCommand::Scope { name, scope, json } => {
            let found = integrations::get(conn, &name)?;
            let change = scope.change();
            let scope = if change.is_empty() {
                crate::store::scope::get(conn, &found.id)?
            } else {
                crate::store::scope::set(conn, &found, change, false)?
            };
            if json {
                print_json(&scope)?;
            } else {
                println!("kinds                {}", scope.kinds.join(","));
                println!("max_removal_percent  {}", scope.max_removal_percent);
                println!("full_sync_hours      {}", scope.full_sync_hours);
                println!("refresh_every        {}", scope.refresh_every);
                println!("requests_at_once     {}", scope.requests_at_once);
                println!("requests_per_second  {}", scope.requests_per_second);
            }
        }
        IntegrationCommand::List { json } => {
            let all: Vec<_> = integrations::list(conn)?
                .iter()
                .map(integrations::Integration::shown)
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
                    println!("{}  {}  {}", shown(&i.name), shown(&i.api_url), project);
                }
            }
        }
        IntegrationCommand::Show { name, json } => {
            let found = integrations::get(conn, &name)?;
            let scope = crate::store::scope::get(conn, &found.id)?;
            let shown = found.shown();
            let last_fresh = crate::store::runs::last_fresh(conn, &found.id)?;
            if json {
                let mut value = serde_json::to_value(&shown)?;
                value["kinds"] = serde_json::json!(scope.kinds);
                value["max_removal_percent"] = serde_json::json!(scope.max_removal_percent);
                value["full_sync_hours"] = serde_json::json!(scope.full_sync_hours);
                value["refresh_every"] = serde_json::json!(scope.refresh_every);
                value["last_fresh_at"] = serde_json::json!(last_fresh);
                print_json(&value)?;
            } else {
                println!("name          {}", text::shown(&shown.name));
                println!("id            {}", shown.id);
                println!("api_url       {}", text::shown(&shown.api_url));
                println!("api_key       {}", shown.api_key);
                println!("user          {}", text::shown(&shown.user));
                println!("password      {}", shown.password);
                println!(
                    "project_name  {}",
                    text::shown(shown.project_name.as_deref().unwrap_or("(all projects)"))
                );
                println!("created_at    {}", shown.created_at);
                if shown.insecure_http {
                    println!(
                        "insecure_http yes: plain http to a public address, taken with --insecure-http"
                    );
                }
                println!("kinds         {}", scope.kinds.join(","));
                println!("max_removal_percent {}", scope.max_removal_percent);
                println!("full_sync_hours {}", scope.full_sync_hours);
                match scope.refresh_every {
                    0 => println!("refresh_every off (the daily sync only)"),
                    minutes => println!("refresh_every {minutes} min (while serve runs)"),
                }
                println!(
                    "last_fresh    {}",
                    last_fresh
                        .as_deref()
                        .unwrap_or("never (no successful sync yet)")
                );
            }
        }
        IntegrationCommand::Remove { name } => {
            let removed = integrations::remove(conn, &name)?;
            println!(
                "removed integration {:?} and the elements it synchronised",
                removed.name
            );
        }
    }
    Ok(())
}

/// A secret from its flag or standard input, else from its variable. Read
/// here rather than by clap so that `--api-key-stdin` with the variable set
/// is no conflict: the flag said where the secret is.
fn secret(flag: &str, given: Option<String>, variable: &str) -> Result<String> {
    match given.or_else(|| std::env::var(variable).ok()) {
        Some(value) => Ok(value),
        None => refuse!(crate::error::invalid(
            flag,
            format!(
                "{flag} is required: give it in {variable} or on standard input with {flag}-stdin (or as {flag} VALUE, which `ps` and the shell's history see)"
            )
        )),
    }
}

/// The secrets given on standard input: with both flags, the first line is
/// the API key and the second the password. A line's end (`\n` or `\r\n`) is
/// not part of it; an empty or missing line is refused.
fn secrets_from(
    mut input: impl std::io::BufRead,
    api_key: bool,
    password: bool,
) -> Result<(Option<String>, Option<String>)> {
    let mut line = |flag: &str, what: &str, which: &str| -> Result<String> {
        // A line longer than any secret is refused before it is read whole
        // (a file piped in by mistake): SECRET_MAX characters of up to
        // four bytes each, the line's end, one more.
        let limit = crate::text::SECRET_MAX as u64 * 4 + 3;
        let mut text = String::new();
        let read =
            std::io::BufRead::read_line(&mut std::io::Read::take(&mut input, limit), &mut text)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidData => anyhow::Error::new(crate::error::invalid(
                        flag,
                        format!("{flag}: the {what} on standard input is not UTF-8 text"),
                    )),
                    _ => anyhow::anyhow!("{flag}: reading standard input: {e}"),
                })?;
        let cut = read as u64 == limit && !text.ends_with('\n');
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            refuse!(crate::error::invalid(
                flag,
                format!(
                    "{flag}: standard input gave no {what} (its {which} line is empty or missing)"
                )
            ));
        }
        if cut || text.chars().count() > crate::text::SECRET_MAX {
            refuse!(crate::error::invalid(
                flag,
                format!(
                    "{flag}: the {what} on standard input is longer than {} characters, more than any {what}",
                    crate::text::SECRET_MAX
                )
            ));
        }
        Ok(text.to_string())
    };
    let mut read_api_key = None;
    if api_key {
        read_api_key = Some(line("--api-key-stdin", "API key", "first")?);
    }
    let mut read_password = None;
    if password {
        let which = if api_key { "second" } else { "first" };
        read_password = Some(line("--password-stdin", "password", which)?);
    }
    Ok((read_api_key, read_password))
}

pub fn services_command(conn: &crate::store::Db, command: ServicesCommand) -> Result<()> {
    match command {
        ServicesCommand::Import {
            file,
            format,
            report,
        } => {
            let summary = services::import(conn, &file, format, report.as_deref())?;
            crate::sync::identification::apply_all(conn, &crate::component::Runtime::new()?)?;
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
                        shown(&s.id_cliente_servico),
                        shown(s.name.as_deref().unwrap_or("-")),
                        shown(s.status.as_deref().unwrap_or("-")),
                        listed.platform_client_id.as_deref().map_or(
                            "not on the platform".into(),
                            |id| format!("client {}", shown(id))
                        )
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
                    println!("{field:<20}{}", text::shown(&shown));
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
                "sync of {:?} FAILED (run {}): {}",
                report.integration,
                report.run_id,
                text::shown_lines(error)
            );
            println!("nothing stored earlier was changed");
            if !report.held_removals.is_empty() {
                println!(
                    "if the platform really lost them, apply the removals with `mapsync sync --integration {} --allow-removals`",
                    report.integration
                );
            }
            return;
        }
    }
    println!(
        "  {:<10} {:>8} {:>8} {:>10} {:>8} {:>8} {:>6}",
        "kind", "created", "updated", "unchanged", "removed", "invalid", "kept"
    );
    for kind in elements::KINDS {
        let c = report.kinds.get(kind).copied().unwrap_or_default();
        println!(
            "  {kind:<10} {:>8} {:>8} {:>10} {:>8} {:>8} {:>6}",
            c.created, c.updated, c.unchanged, c.removed, c.invalid, c.kept
        );
    }
    for i in &report.incomplete {
        println!(
            "  {}: listing incomplete, nothing removed: {}",
            i.kind, i.reason
        );
    }
    println!("  {} requests, {} retried", report.requests, report.retries);
    if !report.invalid.is_empty() {
        println!("invalid records (skipped; those stored before keep their last valid version):");
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

pub fn matches_command(
    conn: &crate::store::Db,
    runtime: &crate::component::Runtime,
    decision: Option<crate::cli::MatchCommand>,
    json: bool,
    min_score: f64,
) -> Result<()> {
    use crate::cli::MatchCommand;
    match decision {
        None => {
            let found = crate::sync::matches::suggestions(conn, runtime, min_score)?;
            if json {
                return print_json(&found);
            }
            if found.is_empty() {
                println!("no suggested matches at score {min_score} or more");
            }
            for m in &found {
                println!(
                    "{}  {:.3}  service {} ({})  ~  client {} ({}) [{}]",
                    m.id,
                    m.score,
                    m.service,
                    m.service_name.as_deref().unwrap_or("-"),
                    m.client,
                    m.client_name,
                    m.integration
                );
                println!("      {}", m.reasons.join("; "));
            }
        }
        Some(MatchCommand::Reject { id }) => {
            let m = crate::sync::matches::reject(conn, runtime, &id)?;
            println!(
                "rejected: platform client {} is not service {:?}; it will not be suggested again",
                m.client, m.service
            );
        }
        Some(MatchCommand::Accept { id }) => {
            let (m, binding) = crate::sync::matches::accept(conn, runtime, &id)?;
            println!(
                "accepted: service {:?} is platform client {}, bound to port {} of splitter {} ({})",
                m.service, m.client, binding.port, binding.splitter, binding.state
            );
            if let Some(reason) = &binding.reason {
                println!("  {reason}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_on_stdin_are_one_a_line_without_their_line_ends() {
        let read = |text: &str, key, password| secrets_from(text.as_bytes(), key, password);
        assert_eq!(
            read("KEY\r\nPW word \n", true, true).unwrap(),
            (Some("KEY".into()), Some("PW word ".into()))
        );
        assert_eq!(
            read("KEY", true, false).unwrap(),
            (Some("KEY".into()), None)
        );
        assert_eq!(
            read("PW\n", false, true).unwrap(),
            (None, Some("PW".into()))
        );
        let error = read("KEY\n", true, true).unwrap_err().to_string();
        assert!(
            error.contains("--password-stdin") && error.contains("second"),
            "{error}"
        );
        let error = read("\nPW\n", true, true).unwrap_err().to_string();
        assert!(error.contains("--api-key-stdin"), "{error}");
        assert!(!error.contains("PW"), "{error}");
    }
}
