//! The web console of `mapsync serve`, in a real browser (headless Chromium
//! through chromedriver) over real HTTP on loopback. Each test saves a
//! screenshot under `target/console-screenshots/` to look at.

use std::process::Child;

use crate::browser::Browser;
use crate::common::{Bench, terminate};

const TOKEN: &str = "test-token";

/// `mapsync serve` for the console, stopped when dropped (even when the test
/// fails half-way).
struct Console {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    address: String,
}

impl Console {
    fn serve(bench: &Bench) -> Console {
        let served = bench.serve(TOKEN);
        Console {
            child: served.child,
            address: served.address,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            terminate(&mut self.child);
        }
    }
}

#[test]
fn signs_in_with_the_api_token() {
    let bench = Bench::new();
    let console = Console::serve(&bench);
    let browser = Browser::start();
    browser.goto(&console.url("/"));

    // In Brazilian Portuguese, the token's field labelled.
    browser.wait_for("input#signin-token");
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("pt-BR"));
    assert_eq!(browser.text("button#signin-submit"), "Entrar");
    let labelled = browser.exec(
        "const i = document.getElementById('signin-token');
         return i.labels.length > 0 || !!i.getAttribute('aria-label')
             || !!i.getAttribute('aria-labelledby');",
    );
    assert_eq!(labelled, true, "the token's field has no label");

    // A wrong token: an error, and still no way in.
    browser.fill("input#signin-token", "wrong-token");
    browser.click("button#signin-submit");
    browser.wait_for("#signin-error");
    assert!(
        !browser.text("#signin-error").trim().is_empty(),
        "the error says nothing"
    );
    assert!(!browser.visible("nav#nav"), "a wrong token let us in");
    browser.screenshot("sign-in-refused");

    // The right one: the form goes, the sections come.
    browser.fill("input#signin-token", TOKEN);
    browser.click("button#signin-submit");
    browser.wait_for("nav#nav");
    browser.wait_hidden("input#signin-token");
    for section in ["integrations", "network", "services", "matches"] {
        let link = format!("nav#nav a[href=\"#/{section}\"]");
        assert_eq!(browser.count(&link), 1, "{link}");
    }
    browser.screenshot("sign-in");
}

/// The harness itself, on a page of its own: so that a console test that
/// fails points at the console, not at the harness.
#[test]
fn the_harness_drives_a_page_on_a_phone() {
    use base64::Engine;

    // Without its viewport tag a phone lays the page out 980 wide.
    let page = r#"<!doctype html><html lang="pt-BR">
        <meta name="viewport" content="width=device-width, initial-scale=1"><body>
        <label for="name">Nome</label><input id="name" value="antigo">
        <select id="kind"><option value="a">A</option><option value="b">B</option></select>
        <input id="file" type="file" hidden>
        <button id="go">Ir</button>
        <p id="out" hidden></p>
        <script>
          document.getElementById('go').onclick = () => setTimeout(() => {
            const out = document.getElementById('out');
            const file = document.getElementById('file').files[0];
            out.textContent = 'Olá, ' + document.getElementById('name').value + ' '
              + document.getElementById('kind').value + ' ' + (file ? file.name : '-');
            out.hidden = false;
            document.getElementById('go').hidden = true;
          }, 300);
        </script></body></html>"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rede.csv");
    std::fs::write(&file, "id\n1\n").unwrap();

    let browser = Browser::phone();
    browser.goto(&format!(
        "data:text/html;charset=utf-8;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(page)
    ));
    assert_eq!(browser.exec("return window.innerWidth"), 390);
    assert_eq!(browser.exec("return navigator.language"), "pt-BR");
    assert_eq!(
        browser.attr("input#name", "value").as_deref(),
        Some("antigo")
    );
    browser.fill("input#name", "Ana");
    browser.select("select#kind", "b");
    browser.upload("input#file", &file);
    assert_eq!(browser.count("button"), 1);
    assert!(!browser.visible("#out"));
    browser.click("button#go");
    browser.wait_text("#out", "Olá, Ana b rede.csv");
    browser.wait_hidden("button#go");
    let shot = browser.screenshot("harness-phone");
    assert!(std::fs::read(shot).unwrap().starts_with(b"\x89PNG"));
}
