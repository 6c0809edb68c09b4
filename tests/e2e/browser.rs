//! A real browser for the console's tests: headless Chromium driven through
//! its WebDriver (chromedriver) on loopback, as a person would use the
//! console. Blocking, like the rest of the suite (`webdriver.rs`).
//!
//! The console renders after its scripts run and its API answers, so the
//! lookups wait (up to `PATIENCE`) rather than fail at once; a wait that
//! times out says what it awaited and what the page showed instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::webdriver::{self, Element, Session};

/// How long a lookup waits for the page to get there.
const PATIENCE: Duration = Duration::from_secs(15);

/// How long one WebDriver command may take before the browser is taken for
/// hung.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// How much of the page's text a failed wait shows.
const PAGE_EXCERPT: usize = 2000;

pub struct Browser {
    /// `None` once closed (on drop).
    session: Option<Session>,
    /// chromedriver, leader of its own process group so that dropping the
    /// browser ends Chromium too, even when the session could not be closed.
    driver: Child,
}

impl Browser {
    /// A desktop-sized browser (1280x900) that prefers Brazilian Portuguese.
    pub fn start() -> Browser {
        Browser::sized(1280, 900, false)
    }

    /// `start` as a phone: a 390x844 viewport (an iPhone's) with touch and
    /// a phone's handling of the viewport meta tag.
    pub fn phone() -> Browser {
        Browser::sized(390, 844, true)
    }

    fn sized(width: u32, height: u32, phone: bool) -> Browser {
        let chromedriver = crate::parts::chromedriver();
        let (driver, port) = start_driver(&chromedriver);
        let mut browser = Browser {
            session: None,
            driver,
        };
        let mut options = json!({
            "args": [
                "--headless",
                // Chromium will not start as root (CI) inside its sandbox.
                "--no-sandbox",
                "--disable-gpu",
                format!("--window-size={width},{height}"),
                "--lang=pt-BR",
            ],
            // What sets navigator.languages and Accept-Language.
            "prefs": { "intl.accept_languages": "pt-BR" },
        });
        if phone {
            // Headless Chromium keeps a window at least 500 wide: only
            // emulation gives a phone's viewport.
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 }
            });
        }
        let session = Session::new(
            webdriver::agent(COMMAND_LIMIT),
            &format!("http://127.0.0.1:{port}"),
            json!({ "goog:chromeOptions": options }),
        )
        .unwrap_or_else(|e| panic!("chromedriver refused a session: {e}"));
        browser.session = Some(session);
        browser
    }

    fn session(&self) -> &Session {
        self.session.as_ref().expect("an open session")
    }

    /// Open this URL and wait for it to load.
    pub fn goto(&self, url: &str) {
        self.command(&format!("opening {url}"), |s| s.goto(url));
    }

    /// Clear this field, then type the text into it.
    pub fn fill(&self, css: &str, text: &str) {
        self.on(css, true, &format!("{css} to fill"), |e| {
            e.clear()?;
            e.send_keys(text)
        });
    }

    /// Click this element, once it shows and takes clicks.
    pub fn click(&self, css: &str) {
        self.on(css, true, &format!("{css} to click"), |e| e.click());
    }

    /// The element's visible text (empty while it is hidden).
    pub fn text(&self, css: &str) -> String {
        self.on(css, false, &format!("{css} to read"), |e| e.text())
    }

    /// The element's attribute, read from the DOM (`None` when absent).
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.on(css, false, &format!("{css} to read"), |e| e.attr(name))
    }

    /// How many elements match now, without waiting: zero is an answer.
    pub fn count(&self, css: &str) -> usize {
        self.command(&format!("counting {css}"), |s| {
            s.find_all(css).map(|all| all.len())
        })
    }

    /// Whether an element that matches shows now, without waiting.
    pub fn visible(&self, css: &str) -> bool {
        self.shown(css)
            .unwrap_or_else(|e| panic!("looking for {css}: {e}\n{}", self.page()))
    }

    /// Wait until an element that matches shows.
    pub fn wait_for(&self, css: &str) {
        self.until(&format!("{css} to show"), || match self.shown(css) {
            Ok(true) => Ok(()),
            Ok(false) => Err(String::new()),
            Err(e) => Err(e.to_string()),
        });
    }

    /// Wait until no element that matches shows (gone or hidden).
    pub fn wait_hidden(&self, css: &str) {
        self.until(&format!("{css} to hide"), || match self.shown(css) {
            Ok(false) => Ok(()),
            Ok(true) => Err(String::new()),
            Err(e) => Err(e.to_string()),
        });
    }

    /// Wait until an element that matches shows a text that contains the
    /// needle; the texts seen while waiting go into the failure.
    pub fn wait_text(&self, css: &str, needle: &str) {
        let what = format!("{css} to show {needle:?}");
        self.until(&what, || {
            let texts: webdriver::Result<Vec<String>> = self
                .session()
                .find_all(css)
                .and_then(|all| all.iter().map(Element::text).collect());
            match texts {
                Ok(texts) if texts.iter().any(|t| t.contains(needle)) => Ok(()),
                Ok(texts) => Err(format!("it showed {texts:?}")),
                Err(e) => Err(e.to_string()),
            }
        });
    }

    /// Choose the option with this value in a <select>.
    pub fn select(&self, css: &str, value: &str) {
        self.on(css, true, &format!("{css} to choose"), |e| {
            e.select_by_value(value)
        });
    }

    /// Give this file to an <input type=file>, as choosing it would.
    pub fn upload(&self, css: &str, path: &Path) {
        let path = std::fs::canonicalize(path)
            .unwrap_or_else(|e| panic!("the file to upload, {}: {e}", path.display()));
        let path = path.to_str().expect("a UTF-8 path to upload");
        // A file input is often hidden behind a styled button; chromedriver
        // takes the file all the same.
        self.on(css, false, &format!("{css} to upload into"), |e| {
            e.send_keys(path)
        });
    }

    /// Run JavaScript in the page (`return` gives the value back): for what
    /// the other helpers cannot say.
    pub fn exec(&self, js: &str) -> Value {
        self.command("running a script", |s| s.execute(js))
    }

    /// Save what the page shows as `target/console-screenshots/NAME.png`,
    /// the test's artefact to look at, and give its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.command("taking a screenshot", Session::screenshot);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Whether an element that matches shows. An error can be passing (the
    /// page replaced the element while it was looked at), so waits retry.
    fn shown(&self, css: &str) -> webdriver::Result<bool> {
        for e in self.session().find_all(css)? {
            if e.is_displayed()? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One WebDriver exchange that should simply work.
    fn command<T>(&self, what: &str, f: impl FnOnce(&Session) -> webdriver::Result<T>) -> T {
        f(self.session()).unwrap_or_else(|e| panic!("{what}: {e}\n{}", self.page()))
    }

    /// Retry `attempt` until it succeeds or `PATIENCE` runs out; `Err`
    /// says why not yet.
    fn until<T>(&self, what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let why = match attempt() {
                Ok(done) => return done,
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                let why = if why.is_empty() {
                    String::new()
                } else {
                    format!(": {why}")
                };
                panic!("waited {PATIENCE:?} for {what}{why}\n{}", self.page());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Do this to the first element that matches and shows (or, unless
    /// `shown`, the first that matches); retried while there is none yet or
    /// it refuses (not yet interactable, covered by another).
    fn on<T>(
        &self,
        css: &str,
        shown: bool,
        what: &str,
        action: impl Fn(&Element) -> webdriver::Result<T>,
    ) -> T {
        self.until(what, || {
            let text = |e: webdriver::Error| e.to_string();
            let mut found = None;
            for e in self.session().find_all(css).map_err(text)? {
                if !shown || e.is_displayed().map_err(text)? {
                    found = Some(e);
                    break;
                }
            }
            let e = found.ok_or(if shown { "none shows" } else { "none is there" })?;
            action(&e).map_err(text)
        })
    }

    /// The page's URL and the start of its visible text, for failures.
    fn page(&self) -> String {
        let Some(session) = self.session.as_ref() else {
            return String::new();
        };
        let read = session.current_url().and_then(|url| {
            let text = session.execute("return document.body ? document.body.innerText : ''")?;
            Ok((url, text))
        });
        match read {
            Ok((mut url, text)) => {
                let text = text.as_str().unwrap_or_default();
                let excerpt: String = text.chars().take(PAGE_EXCERPT).collect();
                let more = if excerpt.len() < text.len() {
                    "\n[…]"
                } else {
                    ""
                };
                if url.len() > 200 {
                    url = format!("{}…", url.chars().take(200).collect::<String>());
                }
                format!("the page at {url} showed:\n{excerpt}{more}")
            }
            Err(e) => format!("(the page could not be read: {e})"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = session.close();
        }
        // The whole group: chromedriver and any Chromium it left. (Only
        // Chromium's crash reporter leaves the group, and it ends by itself
        // once Chromium has.)
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

/// chromedriver on a free loopback port, once it says it is ready. The port
/// is found by binding and releasing it, so another process may take it
/// first: then chromedriver ends and another port is tried.
fn start_driver(chromedriver: &Path) -> (Child, u16) {
    use std::os::unix::process::CommandExt;
    let agent = webdriver::agent(Duration::from_secs(5));
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // It prints D-Bus complaints that do not matter here.
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let status = format!("http://127.0.0.1:{port}/status");
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if driver.try_wait().unwrap().is_some() {
                break;
            }
            let ready = agent
                .get(&status)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return (driver, port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe { libc::kill(-(driver.id() as i32), libc::SIGKILL) };
        let _ = driver.wait();
    }
    panic!(
        "{} did not get ready on a loopback port",
        chromedriver.display()
    );
}
