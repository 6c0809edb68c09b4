//! Runs the guest component on wasmtime, sandboxed: it imports only
//! mapsync's own interfaces (no WASI: no files, no environment, no sockets
//! of its own), with bounded memory and time.

pub mod bindings;
pub mod blocking;
pub mod connections;
pub mod cpu;
pub mod fetch;
pub mod guest_log;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};

use crate::store::run_store::RunStore;
use bindings::{
    Integration as World, binding as wit_binding, clock, element_store, http_fetch, log,
    matching as wit_matching, sync as wit_sync,
};
use fetch::{Fetcher, Pending, RequestBound};

/// The guest, built by `build.rs`.
const GUEST: &[u8] = include_bytes!(env!("MAPSYNC_GUEST_WASM"));
/// Bounds on one matching call: pure computation over everything stored,
/// so more memory than a sync needs (400,000 services against as many
/// clients), and well under the time.
const MATCHING: Limits = Limits {
    memory_bytes: 2 << 30,
    wall_time: Duration::from_secs(600),
};
const EPOCH_TICK: Duration = Duration::from_millis(100);

/// Bounds on one guest run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub memory_bytes: usize,
    pub wall_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            wall_time: Duration::from_secs(4 * 3600),
        }
    }
}

/// The default bounds, with this time.
fn within(wall_time: Duration) -> Limits {
    Limits {
        wall_time,
        ..Limits::default()
    }
}

/// One compiled component, instantiated afresh for each run.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    component: Component,
    ticker_stop: Arc<AtomicBool>,
    /// Requests under way at once across every call this runtime makes.
    requests: RequestBound,
}

pub struct HostState {
    limits: StoreLimits,
    fetcher: Fetcher,
    /// Present during a sync; a push has no store.
    store: Option<RunStore>,
    /// When the call's time bound runs out: `sleep` never waits past it.
    deadline: Instant,
    /// The last `error` line, which a panicking component sends just before
    /// it traps: the trap alone says only "unreachable".
    last_error: Option<String>,
    /// Time spent answering the component's imports.
    spent: Spent,
    /// The requests the component `start`ed and has not dropped.
    pending: ResourceTable,
}

/// Requests the component may have under way at once; more are sent when
/// it waits for them. Its own setting stays far below.
const MAX_UNDER_WAY: usize = 16;

/// Where a call's time went: the platform's answers (and waits before
/// retries), the store's, and the rest, the component's own work.
#[derive(Clone, Copy, Debug, Default)]
struct Spent {
    platform: Duration,
    store: Duration,
    /// The CPU time the component's thread spent in the host answering
    /// its imports (waiting takes none): the rest of its CPU time is the
    /// component's own.
    imports_cpu: Duration,
}

/// When the host began answering an import, by the wall clock and by the
/// CPU time of the component's thread.
struct Answering {
    wall: Instant,
    cpu: Duration,
}

impl Answering {
    fn begin() -> Answering {
        Answering {
            wall: Instant::now(),
            cpu: cpu::thread_cpu(),
        }
    }
}

impl Spent {
    /// The platform's import, begun at `from`, answered.
    fn platform_answered(&mut self, from: &Answering) {
        self.platform += from.wall.elapsed();
        self.imports_cpu += cpu::thread_cpu().saturating_sub(from.cpu);
    }

    /// The store's import, begun at `from`, answered.
    fn store_answered(&mut self, from: &Answering) {
        self.store += from.wall.elapsed();
        self.imports_cpu += cpu::thread_cpu().saturating_sub(from.cpu);
    }
}

/// Where a sync's time went, in milliseconds: a profile for whoever asks
/// why a sync is slow (`sync --json`'s `timing`).
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Timing {
    pub total_ms: u64,
    /// Waiting for the platform: requests and the pauses between retries.
    pub platform_ms: u64,
    /// The store's calls: classing, staging, counting.
    pub store_ms: u64,
    /// The component's own work: parsing, normalising, fingerprinting,
    /// and crossing into and out of the sandbox.
    pub component_ms: u64,
    /// The same work in CPU time of the thread running the component:
    /// `component_ms` without the moments it waited for a core while the
    /// store's thread, the platform's and other processes had them.
    #[serde(default)]
    pub component_cpu_ms: u64,
}

impl Timing {
    fn of(total: Duration, cpu: Duration, spent: Spent) -> Timing {
        let ms = |d: Duration| d.as_millis() as u64;
        let (total_ms, platform_ms, store_ms) = (ms(total), ms(spent.platform), ms(spent.store));
        // The parts add up to the whole, to the millisecond.
        Timing {
            total_ms,
            platform_ms,
            store_ms,
            component_ms: total_ms.saturating_sub(platform_ms + store_ms),
            component_cpu_ms: ms(cpu.saturating_sub(spent.imports_cpu)),
        }
    }
}

impl bindings::types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        crate::component::guest_log::forward(level, &message, &fields);
        if level == log::Level::Error {
            self.last_error = Some(message);
        }
    }
}

impl clock::Host for HostState {
    fn sleep(&mut self, ms: u32) {
        let from = Answering::begin();
        let left = self.deadline.saturating_duration_since(Instant::now());
        let wait = Duration::from_millis(ms.into()).min(left);
        std::thread::sleep(wait);
        self.spent.platform_answered(&from);
    }

    fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

impl http_fetch::Host for HostState {
    fn fetch(
        &mut self,
        request: http_fetch::Request,
    ) -> Result<http_fetch::Response, http_fetch::FetchError> {
        let (method, url) = (request.method, request.url.clone());
        let from = Answering::begin();
        let answer = self.fetcher.fetch(request);
        self.spent.platform_answered(&from);
        log_answer(method, &url, &answer, from.wall);
        answer
    }

    fn start(&mut self, request: http_fetch::Request) -> Resource<Pending> {
        let pending = if self.under_way() < MAX_UNDER_WAY {
            self.fetcher.start(request)
        } else {
            Fetcher::defer(request)
        };
        self.pending
            .push(pending)
            .expect("the table of requests under way holds few")
    }
}

impl HostState {
    /// Requests the component started whose exchange may still run.
    fn under_way(&mut self) -> usize {
        self.pending
            .iter_mut()
            .filter_map(|entry| entry.downcast_mut::<Pending>())
            .filter(|pending| pending.under_way())
            .count()
    }
}

/// A platform request's outcome, for the debug log.
fn log_answer(
    method: http_fetch::Method,
    url: &str,
    answer: &Result<http_fetch::Response, http_fetch::FetchError>,
    started: Instant,
) {
    // Logged as text, as people read them: not Rust's debug forms.
    let method = match method {
        http_fetch::Method::Get => "GET",
        http_fetch::Method::Post => "POST",
        http_fetch::Method::Put => "PUT",
        http_fetch::Method::Patch => "PATCH",
        http_fetch::Method::Delete => "DELETE",
    };
    match answer {
        Ok(r) => {
            tracing::debug!(method, url = %strip_query(url), status = r.status, elapsed_ms = started.elapsed().as_millis() as u64, "platform request")
        }
        Err(e) => {
            tracing::warn!(method, url = %strip_query(url), error = fetch_error_text(e).as_str(), "platform request failed")
        }
    }
}

/// A failed request as a log line says it.
fn fetch_error_text(e: &http_fetch::FetchError) -> String {
    use http_fetch::FetchError;
    match e {
        FetchError::Denied(why) => format!("denied: {why}"),
        FetchError::Timeout => "timed out".into(),
        FetchError::ConnectionRefused => "connection refused".into(),
        FetchError::ConnectionReset => "connection reset".into(),
        FetchError::Tls(why) => format!("TLS: {why}"),
        FetchError::Other(why) => why.clone(),
    }
}

impl http_fetch::HostPending for HostState {
    fn finish(
        &mut self,
        pending: Resource<Pending>,
    ) -> Result<http_fetch::Response, http_fetch::FetchError> {
        let from = Answering::begin();
        let pending = self
            .pending
            .get_mut(&pending)
            .expect("the component holds the handle, so the table does");
        let answer = pending.finish(&self.fetcher);
        self.spent.platform_answered(&from);
        log_answer(pending.method, &pending.url, &answer, from.wall);
        answer
    }

    fn ready(&mut self, pending: Resource<Pending>) -> bool {
        self.pending
            .get(&pending)
            .expect("the component holds the handle, so the table does")
            .ready()
    }

    fn drop(&mut self, pending: Resource<Pending>) -> wasmtime::Result<()> {
        // Dropping the exchange's task abandons it.
        self.pending.delete(pending)?;
        Ok(())
    }
}

/// Query strings can be long (filters); logs keep the route.
fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

impl HostState {
    /// `call` on the run's store, timed.
    fn run_store<T>(&mut self, call: impl FnOnce(&mut RunStore) -> Result<T>) -> Result<T, String> {
        let store = self
            .store
            .as_mut()
            .ok_or_else(|| "no element store is open for this call".to_string())?;
        let from = Answering::begin();
        let answer = call(store).map_err(|e| format!("{e:#}"));
        self.spent.store_answered(&from);
        answer
    }
}

impl element_store::Host for HostState {
    fn look_up(
        &mut self,
        kind: bindings::types::ElementKind,
        ids: Vec<String>,
    ) -> Result<element_store::Entries, String> {
        self.run_store(|s| s.look_up(kind, &ids))
    }

    fn stage_written(
        &mut self,
        kind: bindings::types::ElementKind,
        elements: element_store::Written,
    ) -> Result<(), String> {
        self.run_store(move |s| s.stage_written(kind, elements))
    }

    fn stage_marks(
        &mut self,
        kind: bindings::types::ElementKind,
        marks: Vec<element_store::Mark>,
    ) -> Result<(), String> {
        self.run_store(move |s| s.stage_marks(kind, marks))
    }

    fn held_count(&mut self, kind: bindings::types::ElementKind) -> Result<u32, String> {
        self.run_store(|s| s.held_count(kind))
    }

    fn held_ids(
        &mut self,
        kind: bindings::types::ElementKind,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        self.run_store(|s| s.held_ids(kind, after.as_deref(), limit))
    }

    fn unstaged_ids(
        &mut self,
        kind: bindings::types::ElementKind,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        self.run_store(|s| s.unstaged_ids(kind, after.as_deref(), limit))
    }
}

impl Runtime {
    /// Compile the component, or load it from the on-disk cache.
    pub fn new() -> Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        if std::env::var_os("MAPSYNC_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let component = load_component(&engine)?;
        let mut linker = Linker::new(&engine);
        // Only mapsync's own interfaces: the component imports no WASI.
        World::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (ticking_engine, stop) = (engine.clone(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking_engine.increment_epoch();
                }
            })?;
        Ok(Runtime {
            engine,
            linker,
            component,
            ticker_stop,
            requests: RequestBound::default(),
        })
    }

    /// At most `requests` requests under way at once across every call
    /// (every integration this host syncs); 16 by default.
    pub fn with_request_bound(mut self, requests: usize) -> Runtime {
        self.requests = RequestBound::new(requests);
        self
    }

    /// A fresh sandbox for one call: its own store and limits.
    #[allow(clippy::result_large_err)]
    fn instantiate(
        &self,
        api_url: Option<&str>,
        store: Option<RunStore>,
        limits: Limits,
    ) -> Result<(Store<HostState>, World), (anyhow::Error, Option<RunStore>)> {
        let fetcher = match api_url {
            None => Fetcher::nowhere(),
            Some(url) => match Fetcher::new(url, &self.requests) {
                Ok(f) => f,
                Err(e) => return Err((e, store)),
            },
        };
        let state = HostState {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(4)
                .build(),
            fetcher,
            store,
            deadline: Instant::now() + limits.wall_time,
            last_error: None,
            spent: Spent::default(),
            pending: ResourceTable::new(),
        };
        let mut wasm_store = Store::new(&self.engine, state);
        wasm_store.limiter(|s| &mut s.limits);
        let ticks = (limits.wall_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        wasm_store.set_epoch_deadline(ticks);
        match World::instantiate(&mut wasm_store, &self.component, &self.linker) {
            Ok(world) => Ok((wasm_store, world)),
            Err(e) => {
                let state = wasm_store.into_data();
                Err((explain_trap(e, limits, state.last_error), state.store))
            }
        }
    }

    /// Run one sync. The run store comes back with the guest's answer, its
    /// transaction still open for the caller to commit or roll back.
    pub fn sync(
        &self,
        api_url: &str,
        settings: wit_sync::Settings,
        store: RunStore,
        limits: Limits,
    ) -> (
        Result<Result<wit_sync::Report, wit_sync::RunError>>,
        RunStore,
        Timing,
    ) {
        let (started, cpu) = (Instant::now(), cpu::thread_cpu());
        let (mut wasm_store, world) = match self.instantiate(Some(api_url), Some(store), limits) {
            Ok(ready) => ready,
            Err((e, store)) => {
                return (Err(e), store.expect("the store given"), Timing::default());
            }
        };
        let answer = world
            .mapsync_integration_sync()
            .call_run(&mut wasm_store, &settings);
        let state = wasm_store.into_data();
        (
            answer.map_err(|trap| explain_trap(trap, limits, state.last_error)),
            state.store.expect("the store given"),
            Timing::of(
                started.elapsed(),
                cpu::thread_cpu().saturating_sub(cpu),
                state.spent,
            ),
        )
    }

    /// One storeless call of an export (a check, a push), in a fresh
    /// sandbox bounded to `wall_time`.
    fn call<R>(
        &self,
        api_url: Option<&str>,
        limits: Limits,
        call: impl FnOnce(&World, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R> {
        let (mut wasm_store, world) = self
            .instantiate(api_url, None, limits)
            .map_err(|(e, _)| e)?;
        call(&world, &mut wasm_store)
            .map_err(|t| explain_trap(t, limits, wasm_store.data_mut().last_error.take()))
    }

    /// One call of the `binding` export.
    fn call_binding<R>(
        &self,
        api_url: &str,
        call: impl FnOnce(&wit_binding::Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R> {
        self.call(
            Some(api_url),
            within(Duration::from_secs(600)),
            |world, store| call(world.mapsync_integration_binding(), store),
        )
    }

    /// Check an integration's settings: reach, authenticate, read one row.
    pub fn check_connection(
        &self,
        api_url: &str,
        settings: &wit_sync::Settings,
    ) -> Result<Vec<wit_sync::CheckStep>> {
        self.call(
            Some(api_url),
            within(Duration::from_secs(120)),
            |world, store| world.mapsync_integration_sync().call_check(store, settings),
        )
    }

    /// Push to the platform client a person matched to this customer.
    pub fn push_to_client(
        &self,
        api_url: &str,
        settings: &wit_sync::Settings,
        binding: &wit_binding::PortBinding,
        client: &str,
    ) -> Result<Result<wit_binding::Pushed, wit_binding::PushError>> {
        self.call_binding(api_url, |guest, store| {
            guest.call_push_to_client(store, settings, binding, client)
        })
    }

    /// Move the customer's existing platform property to the bound port;
    /// `client` is the platform client a person matched, if any.
    pub fn move_property(
        &self,
        api_url: &str,
        settings: &wit_sync::Settings,
        binding: &wit_binding::PortBinding,
        property: &str,
        client: Option<&str>,
    ) -> Result<Result<wit_binding::Pushed, wit_binding::PushError>> {
        self.call_binding(api_url, |guest, store| {
            guest.call_move_property(store, settings, binding, property, client)
        })
    }

    /// Identify platform clients by code; reaches no platform.
    pub fn identify(
        &self,
        services: &[wit_matching::Service],
        clients: &[wit_matching::PlatformClient],
    ) -> Result<wit_matching::Identification> {
        self.call(None, MATCHING, |world, store| {
            world
                .mapsync_integration_matching()
                .call_identify(store, services, clients)
        })
    }

    /// Suggest matches for a person to review; reaches no platform.
    pub fn suggest(
        &self,
        services: &[wit_matching::Service],
        clients: &[wit_matching::PlatformClient],
        rejected: &[(String, String)],
        min_score: f64,
    ) -> Result<Vec<wit_matching::Suggestion>> {
        self.call(None, MATCHING, |world, store| {
            world
                .mapsync_integration_matching()
                .call_suggest(store, services, clients, rejected, min_score)
        })
    }

    /// Push a confirmed binding's informative data to the platform.
    pub fn push(
        &self,
        api_url: &str,
        settings: &wit_sync::Settings,
        binding: &wit_binding::PortBinding,
    ) -> Result<Result<wit_binding::Pushed, wit_binding::PushError>> {
        self.call_binding(api_url, |guest, store| {
            guest.call_push(store, settings, binding)
        })
    }

    /// Delete every property mapsync created for a customer code.
    pub fn withdraw(
        &self,
        api_url: &str,
        settings: &wit_sync::Settings,
        code: &str,
    ) -> Result<Result<Vec<String>, wit_binding::PushError>> {
        self.call_binding(api_url, |guest, store| {
            guest.call_withdraw(store, settings, code)
        })
    }

    /// Delete a property mapsync created on the platform.
    pub fn delete_property(
        &self,
        api_url: &str,
        settings: &wit_sync::Settings,
        property: &str,
    ) -> Result<Result<(), wit_binding::PushError>> {
        self.call_binding(api_url, |guest, store| {
            guest.call_delete_property(store, settings, property)
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// A trap in words; `last_error` is the component's last `error` line (a
/// panic's message), which says more than the trap.
fn explain_trap(
    trap: wasmtime::Error,
    limits: Limits,
    last_error: Option<String>,
) -> anyhow::Error {
    let message = format!("{trap:?}");
    if matches!(
        trap.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    ) {
        return anyhow!(
            "the sync ran longer than its limit of {:?} and was stopped",
            limits.wall_time
        );
    }
    if message.contains("memory") && message.contains("limit") {
        return anyhow!(
            "the sync needed more than {} MiB of memory and was stopped",
            limits.memory_bytes >> 20
        );
    }
    match last_error {
        Some(said) => anyhow!("the sync component failed: {said}\n{message}"),
        None => anyhow!("the sync component failed: {message}"),
    }
}

/// Where compiled components are kept between runs.
fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MAPSYNC_CACHE_DIR") {
        return Some(dir.into());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("mapsync"))
}

/// Compiling takes seconds; loading a cached artifact, milliseconds. The
/// key covers the guest's bytes and the engine's settings and version.
fn load_component(engine: &Engine) -> Result<Component> {
    let mut hasher = Sha256::new();
    hasher.update(GUEST);
    std::hash::Hash::hash(
        &engine.precompile_compatibility_hash(),
        &mut HashWriter(&mut hasher),
    );
    let key: String = hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = cache_dir().map(|dir| dir.join(format!("guest-{key}.cwasm")));
    if let Some(path) = &path
        && path.exists()
    {
        // SAFETY: the file is one this function wrote for this exact engine
        // configuration (the key says so); wasmtime checks its header too.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable cached component")
            }
        }
    }
    let component = Component::new(engine, GUEST)
        .map_err(anyhow::Error::from)
        .context("compiling the sync component")?;
    if let Some(path) = &path {
        let written = component
            .serialize()
            .map_err(anyhow::Error::from)
            .and_then(|bytes| {
                std::fs::create_dir_all(path.parent().unwrap())?;
                let partial = path.with_extension("partial");
                std::fs::write(&partial, bytes)?;
                std::fs::rename(&partial, path)?;
                Ok(())
            });
        if let Err(e) = written {
            tracing::debug!(path = %path.display(), error = %e, "could not cache the compiled component");
        }
    }
    Ok(component)
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::hash::Hasher for HashWriter<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::bindings::http_fetch::{FetchError, Method, Request};
    use crate::store::integrations::{self, NewIntegration};
    use crate::store::staging::NoProgress;

    #[test]
    fn a_threads_cpu_time_counts_its_work_not_its_sleep() {
        let before = cpu::thread_cpu();
        std::thread::sleep(Duration::from_millis(200));
        let slept = cpu::thread_cpu() - before;
        assert!(slept < Duration::from_millis(50), "asleep: {slept:?}");
        // Working, it grows, however busy the machine (a minute's bound).
        let (worked, started) = (cpu::thread_cpu(), Instant::now());
        let mut x = 0u64;
        while cpu::thread_cpu() - worked < Duration::from_millis(50) {
            assert!(started.elapsed() < Duration::from_secs(60), "no CPU time");
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }

    /// The guest's answer when its settings point elsewhere than the
    /// origin the host allows.
    fn sync_elsewhere(runtime: &Runtime, allowed: &str, settings_url: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_file(&dir.path().join("mapsync.db")).unwrap();
        let added = integrations::add(
            &conn,
            NewIntegration {
                name: "origin".into(),
                api_url: allowed.into(),
                api_key: "some-api-key".into(),
                user: "someone".into(),
                password: "some-password".into(),
                project_name: None,
                insecure_http: false,
            },
        )
        .unwrap();
        let store = RunStore::begin(conn, &added.id, 1, Box::new(NoProgress)).unwrap();
        let settings = wit_sync::Settings {
            api_url: settings_url.into(),
            api_key: added.api_key.clone(),
            user: added.user.clone(),
            password: added.password.clone(),
            project_name: None,
            page_size: 0,
            pages_in_flight: 0,
            requests_per_second: 0,
            max_attempts: 2,
            timeout_ms: 2000,
            switched_off: Vec::new(),
            max_removal_percent: 20,
            allow_removals: false,
            state: None,
            full: false,
            full_every_hours: 0,
        };
        let (answer, store, _) = runtime.sync(&added.api_url, settings, store, Limits::default());
        let conn = store.roll_back().unwrap();
        let stored: i64 = conn
            .query_row("SELECT COUNT(*) FROM elements", crate::params![], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored, 0, "a denied sync stored elements");
        match answer {
            Ok(Err(wit_sync::RunError::Failed(message))) => message,
            other => panic!("expected the guest to answer an error, got {other:?}"),
        }
    }

    #[test]
    fn the_component_reaches_no_origin_but_the_integrations() {
        let runtime = Runtime::new().unwrap();
        for elsewhere in [
            "http://127.0.0.1:10",   // another port
            "https://127.0.0.1:9",   // another scheme
            "http://evil.example:9", // another host
        ] {
            let message = sync_elsewhere(&runtime, "http://127.0.0.1:9", elsewhere);
            assert!(
                message.contains("denied by the host"),
                "{elsewhere}: the error does not say the host denied the request: {message}"
            );
            assert!(!message.contains("some-password") && !message.contains("some-api-key"));
        }
    }

    /// The component imports mapsync's interfaces and nothing else: a
    /// stray `println!`, clock or random seed would add a WASI import that
    /// every embedder then has to stub, and fails here.
    #[test]
    fn the_component_imports_only_mapsyncs_interfaces() {
        let runtime = Runtime::new().unwrap();
        let ty = runtime.component.component_type();
        let mut imports: Vec<String> = ty
            .imports(&runtime.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        imports.sort();
        let version = "0.9.0";
        let mut expected: Vec<String> = ["clock", "element-store", "http-fetch", "log", "types"]
            .iter()
            .map(|i| format!("mapsync:integration/{i}@{version}"))
            .collect();
        expected.sort();
        assert_eq!(imports, expected);
        let mut exports: Vec<String> = ty
            .exports(&runtime.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        exports.sort();
        assert_eq!(
            exports,
            [
                format!("mapsync:integration/binding@{version}"),
                format!("mapsync:integration/matching@{version}"),
                format!("mapsync:integration/sync@{version}"),
            ]
        );
    }

    /// A panicking component logs the panic as an `error` line, then traps:
    /// the error the caller gets carries that line, not just "unreachable".
    #[test]
    fn a_trap_carries_the_components_last_error_line() {
        use crate::component::bindings::log::Host as _;
        let mut state = HostState {
            limits: StoreLimitsBuilder::new().build(),
            fetcher: Fetcher::new("http://127.0.0.1:9", &RequestBound::default()).unwrap(),
            store: None,
            deadline: Instant::now(),
            last_error: None,
            spent: Spent::default(),
            pending: ResourceTable::new(),
        };
        state.log(log::Level::Warn, "a retry".into(), Vec::new());
        assert_eq!(state.last_error, None);
        let said = "the component panicked at src/sync.rs:1: page 3 lost";
        state.log(log::Level::Error, said.into(), Vec::new());
        let trap = wasmtime::Error::new(wasmtime::Trap::UnreachableCodeReached);
        let error = explain_trap(trap, Limits::default(), state.last_error.take());
        let error = format!("{error:#}");
        assert!(
            error.starts_with(&format!("the sync component failed: {said}")),
            "{error}"
        );

        // The deadline bounds a sleep: past it, sleeping returns at once.
        use crate::component::bindings::clock::Host as _;
        let started = Instant::now();
        state.sleep(60_000);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    fn get(url: &str) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: vec![("authorization".into(), "k".into())],
            body: None,
            timeout_ms: 500,
        }
    }

    #[test]
    fn the_fetcher_refuses_other_origins() {
        let fetcher = Fetcher::new("http://127.0.0.1:1234", &RequestBound::default()).unwrap();
        for url in [
            "https://evil.example:443/api/v2/projects",
            "https://evil.example/api/v2/projects",
            "http://127.0.0.1:1235/api/v2/projects",
            "https://127.0.0.1:1234/api/v2/projects",
            "http://localhost:1234/api/v2/projects",
            "ftp://127.0.0.1:1234/api/v2/projects",
        ] {
            match fetcher.fetch(get(url)) {
                Err(FetchError::Denied(why)) => assert!(why.contains("127.0.0.1:1234"), "{why}"),
                other => panic!("{url}: expected Denied, got {other:?}"),
            }
        }
    }

    /// Requests the component starts answer as `fetch` does, whatever the
    /// order they are finished in; beyond the bound of those under way they
    /// wait for `finish`; a handle answers once, and dropping it forgets it.
    #[test]
    fn started_requests_answer_as_fetched_ones() {
        use crate::component::bindings::http_fetch::{Host as _, HostPending as _};
        use ozmap_test_server::{GeneratorConfig, ServerConfig, TestServer, generate};
        let config = ServerConfig::default();
        let server =
            TestServer::start(config.clone(), generate(&GeneratorConfig::small())).unwrap();
        let page = |n: usize| {
            let mut request = get(&format!("{}/api/v2/poles?page={n}&limit=3", server.url()));
            request.headers = vec![(
                "authorization".into(),
                config.api_key.clone().unwrap_or_default(),
            )];
            request.timeout_ms = 10_000;
            request
        };
        let mut state = HostState {
            limits: StoreLimitsBuilder::new().build(),
            fetcher: Fetcher::new(&server.url(), &RequestBound::default()).unwrap(),
            store: None,
            deadline: Instant::now(),
            last_error: None,
            spent: Spent::default(),
            pending: ResourceTable::new(),
        };
        let pages = MAX_UNDER_WAY + 4;
        let started: Vec<_> = (1..=pages).map(|n| state.start(page(n))).collect();
        assert_eq!(state.under_way(), MAX_UNDER_WAY);
        for (n, handle) in started.into_iter().enumerate().rev() {
            let fetched = state.fetcher.fetch(page(n + 1)).unwrap();
            let answer = state.finish(Resource::new_borrow(handle.rep())).unwrap();
            assert_eq!(
                (answer.status, &answer.body),
                (200, &fetched.body),
                "page {}",
                n + 1
            );
            match state.finish(Resource::new_borrow(handle.rep())) {
                Err(FetchError::Other(why)) => assert!(why.contains("already taken"), "{why}"),
                other => panic!("a second finish answered {other:?}"),
            }
            state.drop(handle).unwrap();
        }
        assert_eq!(state.pending.iter_mut().count(), 0);

        let elsewhere = state.start(get("http://127.0.0.1:9/api/v2/poles"));
        assert!(matches!(
            state.finish(Resource::new_borrow(elsewhere.rep())),
            Err(FetchError::Denied(_))
        ));
        state.drop(elsewhere).unwrap();
        // Dropped unfinished: abandoned, and forgotten.
        let abandoned = state.start(page(1));
        assert_eq!(state.under_way(), 1);
        state.drop(abandoned).unwrap();
        assert_eq!(state.pending.iter_mut().count(), 0);
    }

    #[test]
    fn a_default_port_is_the_same_origin_as_none() {
        let origin = |u: &str| crate::component::fetch::origin_of(&url::Url::parse(u).unwrap());
        assert_eq!(origin("https://a.example"), origin("https://a.example:443"));
        assert_eq!(
            origin("https://a.example/api/v2"),
            Some("https://a.example:443".to_string())
        );
        assert_eq!(origin("http://a.example"), origin("http://a.example:80"));
        assert_ne!(origin("https://a.example"), origin("http://a.example"));
        assert_ne!(
            origin("https://a.example"),
            origin("https://a.example:8443")
        );

        // The fetcher goes by the same rule: a request to the explicit default
        // port of its origin is not denied (it fails to connect, nothing listens).
        let fetcher = Fetcher::new("http://127.0.0.1", &RequestBound::default()).unwrap();
        let answer = fetcher.fetch(get("http://127.0.0.1:80/api/v2/projects"));
        assert!(
            !matches!(answer, Err(FetchError::Denied(_))),
            "the default port was denied: {answer:?}"
        );
        let fetcher = Fetcher::new("http://127.0.0.1:80", &RequestBound::default()).unwrap();
        let answer = fetcher.fetch(get("http://127.0.0.1/api/v2/projects"));
        assert!(
            !matches!(answer, Err(FetchError::Denied(_))),
            "the default port was denied: {answer:?}"
        );
    }
}
