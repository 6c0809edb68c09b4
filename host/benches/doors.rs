//! What the API's worst inputs cost `mapsync serve` in memory: services
//! imports of 16 MiB (the limit) whose every row is bad, in the shapes that
//! cost most (many short rows, long ones, JSON, every id distinct), one at
//! a time and two at once. For each: the answer's status and size, the
//! time, and the server's peak resident memory above its idle level, held
//! against the target of 100 MB.
//!
//! cargo bench -p mapsync --bench doors
//!
//! Prints figures and each against its target; asserts nothing.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Just under the import's limit.
const SIZE: usize = (16 << 20) - 4096;
/// The target: peak memory above idle.
const TARGET_MB: f64 = 100.0;
const TOKEN: &str = "bench-token-0f3e7a";

/// Rows after `header` until the body is about `SIZE` bytes.
fn filled(header: &str, row: impl Fn(usize) -> String) -> Vec<u8> {
    let mut body = String::with_capacity(SIZE + 256);
    body.push_str(header);
    let mut n = 0;
    loop {
        let next = row(n);
        if body.len() + next.len() > SIZE {
            return body.into_bytes();
        }
        body.push_str(&next);
        n += 1;
    }
}

fn json_filled(item: impl Fn(usize) -> String) -> Vec<u8> {
    let mut body = String::from("[");
    let mut n = 0;
    loop {
        let next = item(n);
        if body.len() + next.len() + 2 > SIZE {
            body.push(']');
            return body.into_bytes();
        }
        if n > 0 {
            body.push(',');
        }
        body.push_str(&next);
        n += 1;
    }
}

/// The inputs: a name, its content type and body.
fn inputs() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        (
            "CSV, every row's document and MAC bad",
            "text/csv",
            filled("id_cliente_servico;document;onu_mac\n", |n| {
                format!("SVC-{n};529.982.247-24;not-a-mac\n")
            }),
        ),
        (
            "CSV, 8 million rows of a lone field",
            "text/csv",
            filled("id_cliente_servico;name\n", |_| "x\n".into()),
        ),
        (
            "CSV, distinct ids, each row bad",
            "text/csv",
            filled("id_cliente_servico;lat\n", |n| format!("{n:x};1\n")),
        ),
        (
            "CSV, rows of one long bad value",
            "text/csv",
            filled("id_cliente_servico;document\n", |n| {
                format!("SVC-{n};{}\n", "9".repeat(60_000))
            }),
        ),
        (
            "JSON, items of unknown fields and arrays",
            "application/json",
            json_filled(|n| {
                format!(
                    r#"{{"id_cliente_servico":"S{n}","nome":1,"lat":[1,2,3,4,5,6,7,8],"x":{{"y":[0]}}}}"#
                )
            }),
        ),
        (
            "JSON, one array of 8 million numbers",
            "application/json",
            {
                let mut body = String::from("[[");
                while body.len() < SIZE {
                    body.push_str("1,");
                }
                body.push_str("1]]");
                body.into_bytes()
            },
        ),
    ]
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Forget the peak so far: the next `VmHWM` is the peak from now on.
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

struct Server {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mapsync"))
        .arg("--db")
        .arg(dir.path().join("doors.db"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("MAPSYNC_API_TOKEN", TOKEN)
        .env("MAPSYNC_CACHE_DIR", dir.path().join("cache"))
        .env_remove("MAPSYNC_DB")
        .env_remove("MAPSYNC_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let address = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "serve ended");
        if let Some(address) = line.trim().strip_prefix("listening on ") {
            break address.to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Server {
        child,
        address,
        _dir: dir,
    }
}

/// POST the body; its status and the answer's size in bytes.
fn import(address: &str, content_type: &str, body: &[u8]) -> (u16, usize) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let mut answer = agent
        .post(format!("{address}/api/v1/services/import"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    let status = answer.status().as_u16();
    let read = answer
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    (status, read.len())
}

fn main() {
    let server = serve();
    let pid = server.child.id();
    // The first request warms what every request uses (the pool, the
    // runtime's threads), so that idle means ready.
    import(&server.address, "text/csv", b"id_cliente_servico\n=1\n");
    std::thread::sleep(Duration::from_millis(300));
    let idle_kib = status_kib(pid, "VmRSS:");
    println!(
        "serve, idle: {:.1} MB resident; each input {:.1} MiB",
        idle_kib as f64 / 1e3,
        SIZE as f64 / f64::from(1 << 20)
    );
    let peak_resets = reset_peak(pid);
    let inputs = inputs();
    let measure = |label: &str, work: &dyn Fn() -> Vec<(u16, usize)>| {
        reset_peak(pid);
        let started = Instant::now();
        let answers = work();
        let took = started.elapsed();
        let peak_kib = status_kib(pid, "VmHWM:");
        let above = peak_kib.saturating_sub(idle_kib) as f64 / 1e3;
        let shown: Vec<String> = answers
            .iter()
            .map(|(status, bytes)| format!("{status}, {:.1} KiB", *bytes as f64 / 1024.0))
            .collect();
        let mark = if above <= TARGET_MB { "met" } else { "MISSED" };
        println!(
            "  {label:<44} {:>6.2} s  answer {}  peak {above:>6.1} MB above idle (target ≤ {TARGET_MB:.0}) {mark}",
            took.as_secs_f64(),
            shown.join(" / ")
        );
    };
    for (label, content_type, body) in &inputs {
        measure(label, &|| vec![import(&server.address, content_type, body)]);
    }
    let (label, content_type, body) = &inputs[0];
    measure(&format!("two at once: {label}"), &|| {
        std::thread::scope(|s| {
            let a = s.spawn(|| import(&server.address, content_type, body));
            let b = s.spawn(|| import(&server.address, content_type, body));
            vec![a.join().unwrap(), b.join().unwrap()]
        })
    });
    if !peak_resets {
        println!("  (the peak could not be reset here: each figure is the peak since the start)");
    }
}
