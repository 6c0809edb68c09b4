//! `mapsync demo`: the main job end to end on embedded defaults, with no
//! account and no server to install.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};

use crate::component::bindings::types::ElementKind;
use crate::store::integrations::{self, Integration, NewIntegration};
use crate::store::staging::NoProgress;
use crate::sync::run::{self as sync_run, SyncReport, Tuning};
use crate::{
    cli::commands::print_report, cli::summary, component as runtime, services, store::bindings,
    store::elements, store::projects, sync::identification, sync::outbox,
};

/// The demo; with `serve`, then the daemon on its data at that address.
pub fn run(serve: Option<std::net::SocketAddr>) -> Result<ExitCode> {
    let started = Instant::now();
    let config = ServerConfig::default();
    let network = generate(&GeneratorConfig::small());
    let server = TestServer::start(config.clone(), network)
        .context("starting the built-in OZmap test server")?;
    println!(
        "OZmap test server with a generated network at {}",
        server.url()
    );

    let dir = std::env::temp_dir().join(format!("mapsync-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("demo.db");
    let conn = crate::store::open_file(&path)?;
    let added = integrations::add(
        &conn,
        NewIntegration {
            name: "demo".into(),
            api_url: server.url(),
            api_key: config.api_key.clone().unwrap_or_default(),
            user: config.user.clone(),
            password: config.password.clone(),
            project_name: None,
            insecure_http: false,
        },
    )?;
    println!(
        "integration {:?} registered in a fresh database ({})",
        added.name,
        path.display()
    );

    let (added, _) = projects::link(&conn, &added.name, projects::LinkTo::New("Demo"))?;
    println!("linked to the local mapping project \"Demo\"");

    let runtime = runtime::Runtime::new()?;
    let (report, conn) = sync(conn, &runtime, &added)?;
    print_report(&report);
    if !report.succeeded() {
        return Ok(ExitCode::FAILURE);
    }
    println!("\nWhat mapsync found:");
    println!("{}", summary::of(&conn, &added.id)?);

    // The ISP's side: a customer service, bound to a free port and confirmed.
    let services = dir.join("services.csv");
    std::fs::write(
        &services,
        "id_cliente_servico;name;pppoe_login;onu_serial;onu_mac\nSVC-DEMO-1;Maria da Silva;maria.silva;ZTEG0000DEMO;AA:BB:CC:00:00:01\n",
    )?;
    services::import(&conn, &services, None, None)?;
    let (splitter, port) = free_service_port(&conn, &added.id)?;
    println!(
        "\nService SVC-DEMO-1 imported; binding it to port {port} of service splitter {splitter}"
    );
    bindings::bind(&conn, "SVC-DEMO-1", &splitter, port, false)?;
    let confirmed = outbox::confirm(&conn, &runtime, "SVC-DEMO-1")?;
    println!(
        "confirmed: {} (client {}, property {})",
        confirmed.state,
        confirmed.platform_client.as_deref().unwrap_or("?"),
        confirmed.platform_property.as_deref().unwrap_or("?")
    );
    let (report, conn) = sync(conn, &runtime, &added)?;
    let state = elements::list(&conn, &added.id, ElementKind::Splitter)?
        .into_iter()
        .find(|s| s["id"] == splitter.as_str())
        .map(|s| s["ports"][(port - 1) as usize].clone())
        .unwrap_or_default();
    println!(
        "next sync ({}): port {port} of {splitter} is {} by client code {}",
        report.status, state["state"], state["client_code"]
    );
    let identified = identification::report(&conn, &runtime)?;
    println!(
        "identification: {} identified, {} platform clients without code, {} codes matching no service, {} services without client",
        identified.counts.identified,
        identified.counts.clients_without_code,
        identified.counts.codes_without_service,
        identified.counts.services_without_client
    );

    println!(
        "\ndone in {:.1?}. Explore what was stored:",
        started.elapsed()
    );
    let mapsync = invocation();
    let db = shell_quoted(&path.display().to_string());
    println!("  {mapsync} --db {db} elements --integration demo --kind splitter --json");
    println!("  {mapsync} --db {db} bindings --service SVC-DEMO-1");
    let Some(listen) = serve else {
        println!(
            "\nTo open the web console on a demo like this one, run:\n  {mapsync} demo --serve"
        );
        return Ok(ExitCode::SUCCESS);
    };
    // The daemon reads the token from the store; the demo's is generated
    // here so it can be printed beside the address.
    // With MAPSYNC_API_TOKEN set, serve takes that one and no other: the
    // demo says so rather than print a token that would be refused.
    let sign_in = match crate::daemon::serve::token_from_environment() {
        Some(_) => {
            "sign in with the token in MAPSYNC_API_TOKEN (the environment's token is in use)"
                .to_string()
        }
        None => {
            let token =
                crate::store::settings::keep_api_token(&conn, &crate::daemon::serve::new_token())?;
            format!("sign in with the API token {token}")
        }
    };
    drop(conn);
    // With port 0 the address is known once serve listens, and it says it.
    let at = match listen.port() {
        0 => "at the address below".to_string(),
        _ => format!("at http://{listen}/"),
    };
    println!(
        "\nWeb console on the demo's data {at}: {sign_in}.\n\
         The test server stays up, so syncs from the console work. Ctrl-C stops both."
    );
    let served = crate::daemon::serve::run(
        &crate::store::Location::Sqlite(path),
        listen,
        2,
        crate::component::fetch::DEFAULT_HOST_REQUESTS,
    );
    drop(server);
    served
}

/// This binary as a shell would run it: `mapsync` when that is what the
/// name finds on the PATH, else its full path (after `cargo run` no
/// `mapsync` is on the PATH, or another one is).
fn invocation() -> String {
    let Ok(me) = std::env::current_exe() else {
        return "mapsync".into();
    };
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("mapsync"))
            .find(|candidate| is_executable(candidate))
    });
    let same = |a: &std::path::Path, b: &std::path::Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    match found {
        Some(found) if same(&found, &me) => "mapsync".into(),
        _ => shell_quoted(&me.display().to_string()),
    }
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `text` as one shell word: left alone when nothing in it is special to
/// a shell, else in single quotes.
fn shell_quoted(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn sync(
    conn: crate::store::Db,
    runtime: &runtime::Runtime,
    integration: &Integration,
) -> Result<(SyncReport, crate::store::Db)> {
    sync_run::run(
        conn,
        runtime,
        integration,
        "demo",
        Tuning::default(),
        Box::new(NoProgress),
    )
}

/// The first free port of a service splitter.
fn free_service_port(conn: &crate::store::Db, integration_id: &str) -> Result<(String, u32)> {
    elements::list(conn, integration_id, ElementKind::Splitter)?
        .iter()
        .filter(|s| s["service"] == true)
        .find_map(|s| {
            let port = s["ports"]
                .as_array()?
                .iter()
                .find(|p| p["state"] == "free")?;
            Some((s["id"].as_str()?.to_string(), port["port"].as_u64()? as u32))
        })
        .context("the generated network has no free service port")
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(super::shell_quoted("/tmp/x/demo.db"), "/tmp/x/demo.db");
        assert_eq!(super::shell_quoted("/tmp/my dir/db"), "'/tmp/my dir/db'");
        assert_eq!(super::shell_quoted("/tmp/it's"), "'/tmp/it'\\''s'");
    }
}
