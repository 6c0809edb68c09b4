//! `ozmap-test-server`: serves a generated OZmap network until Ctrl-C.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use ozmap_test_server::{GeneratorConfig, ROUTES, ServerConfig, TestServer, generate};

/// An OZmap API v2 test server with a seeded network (for mapsync's tests and demo).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Besides OZmap's routes under /api/v2/, with the same Authorization:\n  \
        POST /__test/mutate?fraction=0.01&seed=7   changes about that share of the network \
        (updates, creations, deletions, moved properties, new codes, blocked ports; every \
        change with a fresh updatedAt) and answers what it did as JSON."
)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed of the generated network.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// About this many elements over all routes (default: the small network).
    #[arg(long)]
    elements: Option<usize>,
    /// The API key accepted as `Authorization: <key>`.
    #[arg(long, default_value = "test-api-key")]
    api_key: String,
    /// Refuse every API key: clients must log in.
    #[arg(long)]
    no_api_key: bool,
    /// Login accepted by `POST /api/v2/users/login?type=API`.
    #[arg(long, default_value = "mapsync")]
    user: String,
    /// Password accepted by `POST /api/v2/users/login?type=API`.
    #[arg(long, default_value = "secret")]
    password: String,
    /// Answer pages without `hasNextPage` and `nextUrl`, like older servers.
    #[arg(long)]
    legacy_pagination: bool,
    /// Cap on the `limit` parameter.
    #[arg(long, default_value_t = 1000)]
    max_page_size: usize,
    /// A login token expires after this many authenticated requests.
    #[arg(long)]
    token_ttl: Option<u64>,
    /// Milliseconds added to every answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// At most this many requests answered a second; beyond it, 429 with
    /// Retry-After.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Ignore comparisons of `id` in filters, as a platform that does not know them
    #[arg(long)]
    ignore_id_ranges: bool,
    /// Answer the `limit` asked for even when the page is capped at --max-page-size
    #[arg(long)]
    silent_page_cap: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut generator = match args.elements {
        Some(n) => GeneratorConfig::scaled(n),
        None => GeneratorConfig::small(),
    };
    generator.seed = args.seed;
    let began = Instant::now();
    let network = generate(&generator);
    let counts: Vec<String> = ROUTES
        .iter()
        .map(|r| format!("{r} {}", network.collection(r).len()))
        .collect();
    println!(
        "generated {} elements in {:.1?} (seed {}): {}",
        network.total_elements(),
        began.elapsed(),
        args.seed,
        counts.join(", ")
    );
    let config = ServerConfig {
        api_key: (!args.no_api_key).then(|| args.api_key.clone()),
        user: args.user.clone(),
        password: args.password.clone(),
        token_ttl_requests: args.token_ttl,
        max_page_size: args.max_page_size,
        legacy_pagination: args.legacy_pagination,
        latency: Duration::from_millis(args.latency_ms),
        rate_limit: args.rate_limit,
        ignore_id_ranges: args.ignore_id_ranges,
        silent_page_cap: args.silent_page_cap,
    };
    let server = TestServer::start_on(args.listen, config.clone(), network)?;
    println!("OZmap test server listening on {}", server.url());
    match &config.api_key {
        Some(key) => println!("  API key:  Authorization: {key}"),
        None => println!("  API keys: all refused"),
    }
    println!(
        "  login:    POST {}/api/v2/users/login?type=API  {{\"login\": \"{}\", \"password\": \"{}\"}}",
        server.url(),
        config.user,
        config.password
    );
    println!(
        "  mutate:   POST {}/__test/mutate?fraction=0.01&seed=7  (same Authorization)",
        server.url()
    );
    println!("Ctrl-C stops it.");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tokio::signal::ctrl_c())
        .context("waiting for Ctrl-C")?;
    server.shutdown();
    Ok(())
}
