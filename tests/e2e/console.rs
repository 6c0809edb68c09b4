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

/// A console signed in on a bench whose integration `isp` already
/// synchronised the test server's network (for the screens that need one).
fn signed_in(bench: &Bench, browser: &Browser) -> Console {
    let console = Console::serve(bench);
    browser.goto(&console.url("/"));
    browser.fill("input#signin-token", TOKEN);
    browser.click("button#signin-submit");
    browser.wait_for("nav#nav");
    console
}

fn synced_bench() -> Bench {
    let bench = Bench::new();
    bench.add_integration("isp", None);
    bench.sync_ok("isp");
    bench
}

/// Go to a screen by its address, as a person following a link would.
fn open(browser: &Browser, hash: &str, ready: &str) {
    browser.exec(&format!("location.hash = {hash:?};"));
    browser.wait_for(ready);
}

#[test]
fn adds_tests_links_and_syncs_an_integration() {
    let bench = Bench::new();
    let browser = Browser::start();
    let _console = signed_in(&bench, &browser);
    browser.wait_for("#integrations-table, p#integrations-table");
    browser.click("#add-integration");
    browser.wait_for("form#integration-form");

    // A bad address: refused, and said at its field.
    for (field, value) in [
        ("name", "ozmap-matriz"),
        ("api_url", "ftp://ozmap.example"),
        ("api_key", crate::common::API_KEY),
        ("user", crate::common::USER),
        ("password", crate::common::PASSWORD),
    ] {
        browser.fill(&format!("#f-{field}"), value);
    }
    browser.click("#integration-save");
    browser.wait_text("#f-api_url-error", "api_url");
    assert_eq!(
        browser.attr("#f-api_url", "aria-invalid").as_deref(),
        Some("true")
    );
    assert!(browser.text("#form-error").is_empty());
    browser.screenshot("integration-bad-url");

    // The right one: added, then its page.
    browser.fill("#f-api_url", &bench.server.url());
    browser.click("#integration-save");
    browser.wait_for("button#test-connection");
    assert_eq!(browser.text("#view h1"), "ozmap-matriz");
    let shown = browser.text("main");
    assert!(
        !shown.contains(crate::common::PASSWORD) && !shown.contains(crate::common::API_KEY),
        "a secret is on the screen"
    );

    // Its connection test, step by step.
    browser.click("button#test-connection");
    browser.wait_text("#test-outcome", "Conexão funcionando");
    assert_eq!(browser.count("#test-result li.step.ok"), 3);

    // Not linked: no sync offered; linked to a new project, it is.
    assert!(browser.visible("#sync-unavailable"));
    browser.fill("#f-new", "Rede Centro");
    browser.click("#link-submit");
    browser.wait_text("#linked-project", "Rede Centro");

    // Sync now, reading everything, followed to its end, with its counts.
    browser.wait_for("button#sync-now");
    browser.click("input#sync-full");
    browser.click("button#sync-now");
    browser.wait_for("#sync-result[data-outcome=\"succeeded\"]");
    // Every box is counted: created, or unchanged when the daemon's
    // catch-up of the newly linked integration ran first.
    let boxes = bench.elements("ozmap-matriz", "box").len();
    let counted: usize = [2, 3, 5]
        .iter()
        .map(|column| {
            let cell = format!("#run-counts tr[data-kind=\"box\"] td:nth-child({column})");
            browser.text(&cell).parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(counted, boxes);
    browser.wait_for("#runs-table tr[data-run]");
    browser.screenshot("integration-synced");

    // The list says when it ran and when it runs next.
    open(&browser, "#/integrations", "#integrations-table");
    let row = browser.text("tr[data-integration=\"ozmap-matriz\"]");
    assert!(
        row.contains("Rede Centro") && row.contains("concluída"),
        "{row}"
    );
}

#[test]
fn a_box_shows_one_port_grid_per_splitter() {
    let bench = synced_bench();
    let splitters = bench.elements("isp", "splitter");
    // A box with a service splitter with free and taken ports, and, when
    // the network has one, a distribution splitter.
    let service = splitters
        .iter()
        .find(|s| {
            s["service"] == true
                && ["free", "taken"].iter().all(|state| {
                    s["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["state"] == *state)
                })
        })
        .expect("a service splitter with free and taken ports");
    let box_id = service["box"].as_str().unwrap().to_string();

    let browser = Browser::start();
    let _console = signed_in(&bench, &browser);
    open(&browser, "#/network", "form#box-form");
    let name = bench
        .elements("isp", "box")
        .into_iter()
        .find(|b| b["id"] == box_id.as_str())
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    browser.fill("#f-box_name", &name);
    browser.click("#box-search");
    let row = format!("#boxes-table tr[data-box=\"{box_id}\"] a");
    browser.wait_for(&row);
    browser.click(&row);
    browser.wait_for(".splitter");

    for splitter in splitters.iter().filter(|s| s["box"] == box_id.as_str()) {
        let id = splitter["id"].as_str().unwrap();
        for port in splitter["ports"].as_array().unwrap() {
            let cell = format!(
                ".splitter[data-splitter=\"{id}\"] .port[data-port=\"{}\"]",
                port["port"]
            );
            let state = port["state"].as_str().unwrap();
            assert_eq!(
                browser.attr(&cell, "data-state").as_deref(),
                Some(state),
                "{cell}"
            );
            if state == "taken" {
                let code = port["client_code"].as_str().unwrap_or_default();
                assert!(browser.text(&cell).contains(code), "{cell} lacks {code}");
            }
            // Only a service splitter's free ports are offered.
            let offered = browser.exec(&format!(
                "return document.querySelector('{}').tagName === 'BUTTON';",
                cell.replace('\'', "\\'")
            ));
            assert_eq!(
                offered,
                state == "free" && splitter["service"] == true,
                "{cell}"
            );
        }
    }
    browser.screenshot("box-ports");

    // On a phone's width nothing needs sideways scrolling.
    let phone = Browser::phone();
    let _second = signed_in(&bench, &phone);
    open(&phone, &format!("#/boxes/{box_id}"), ".splitter");
    assert_eq!(
        phone.exec("return document.documentElement.scrollWidth <= window.innerWidth;"),
        true,
        "the box page is wider than a phone"
    );
    phone.screenshot("box-ports-phone");
}

#[test]
fn a_services_file_with_a_bad_line_is_refused_whole() {
    let bench = Bench::new();
    let browser = Browser::start();
    let _console = signed_in(&bench, &browser);
    open(&browser, "#/services", "input#import-file");

    let bad = bench.dir.path().join("servicos-ruim.csv");
    std::fs::write(
        &bad,
        "id_cliente_servico;name;lat;lng\nSVC-1;Ana;-27.6;-48.5\nSVC-2;Bruno;norte;-48.5\n",
    )
    .unwrap();
    browser.upload("input#import-file", &bad);
    browser.click("button#import-submit");
    browser.wait_for("#import-errors li[data-line=\"3\"]");
    assert!(browser.text("#import-errors").contains("norte"));
    assert_eq!(browser.count("#import-errors li"), 1);
    browser.screenshot("import-refused");
    let listed = bench.ok(&["services", "list", "--json"]);
    assert_eq!(listed.trim(), "[]", "a refused file imported something");

    let good = bench.dir.path().join("servicos.csv");
    std::fs::write(
        &good,
        "id_cliente_servico;name;lat;lng\nSVC-1;Ana;-27.6;-48.5\nSVC-2;Bruno;-27.61;-48.5\n",
    )
    .unwrap();
    browser.upload("input#import-file", &good);
    browser.click("button#import-submit");
    browser.wait_text("#import-done", "2 criados");
    browser.wait_for("#services-table tr[data-service=\"SVC-2\"]");
    browser.fill("#services-search", "bruno");
    browser.wait_hidden("#services-table tr[data-service=\"SVC-1\"]");
    browser.screenshot("services");
}

#[test]
fn binds_confirms_pushes_and_unbinds_a_service() {
    let bench = synced_bench();
    // A service where a free port is: the nearest viable box is that one.
    let splitters = bench.elements("isp", "splitter");
    let (splitter, port) = crate::common::ports_in_state(&splitters, "free")[0].clone();
    let box_id = splitters
        .iter()
        .find(|s| s["id"] == splitter.as_str())
        .unwrap()["box"]
        .as_str()
        .unwrap()
        .to_string();
    let spot = bench
        .elements("isp", "box")
        .into_iter()
        .find(|b| b["id"] == box_id.as_str())
        .unwrap();
    let services = bench.dir.path().join("servicos.csv");
    std::fs::write(
        &services,
        format!(
            "id_cliente_servico;name;lat;lng;pppoe_login\nSVC-PORTA;Joana Souza;{};{};joana\n",
            spot["lat"], spot["lng"]
        ),
    )
    .unwrap();
    bench.ok(&["services", "import", services.to_str().unwrap()]);

    let browser = Browser::start();
    let _console = signed_in(&bench, &browser);
    open(
        &browser,
        "#/services/SVC-PORTA",
        "#binding-state[data-state=\"none\"]",
    );
    let nearest = format!("#nearby li[data-box=\"{box_id}\"] button");
    browser.wait_for(&nearest);
    browser.click(&nearest);
    let cell =
        format!("#free-ports .splitter[data-splitter=\"{splitter}\"] .port[data-port=\"{port}\"]");
    browser.wait_for(&cell);
    browser.click(&cell);
    browser.wait_for("#binding-state[data-state=\"pending\"]");
    browser.screenshot("binding-pending");

    browser.click("button#confirm-binding");
    browser.wait_for("#push-result[data-state=\"pushed\"]");
    browser.wait_for("#binding-state[data-state=\"pushed\"]");
    browser.screenshot("binding-pushed");
    assert!(
        bench.writes().iter().any(|(method, _)| method == "POST"),
        "nothing was pushed to the platform"
    );

    // The next sync sees the port taken by that code.
    open(&browser, "#/integrations/isp", "button#sync-now");
    browser.click("button#sync-now");
    browser.wait_for("#sync-result[data-outcome=\"succeeded\"]");
    open(&browser, &format!("#/boxes/{box_id}"), ".splitter");
    let grid = format!(".splitter[data-splitter=\"{splitter}\"] .port[data-port=\"{port}\"]");
    browser.wait_for(&grid);
    assert_eq!(browser.attr(&grid, "data-state").as_deref(), Some("taken"));
    assert!(browser.text(&grid).contains("SVC-PORTA"));
    browser.screenshot("port-taken");

    // Unbound (asked twice): the binding is gone.
    open(&browser, "#/services/SVC-PORTA", "button#unbind");
    browser.click("button#unbind");
    browser.click("button#unbind");
    browser.wait_text("#unbind-outcome", "Vínculo removido");
    browser.wait_for("#binding-state[data-state=\"none\"]");
    let left = bench.mapsync(&["bindings", "--service", "SVC-PORTA", "--json"]);
    assert!(!crate::common::stdout(&left).contains("\"pushed\""));
}

#[test]
fn speaks_english_when_asked() {
    let bench = Bench::new();
    let browser = Browser::start();
    let _console = signed_in(&bench, &browser);
    browser.select("select#lang", "en");
    browser.wait_text("nav#nav", "Integrations");
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("en"));
    browser.wait_text("#view h1", "Integrations");
}

#[test]
fn a_suggested_match_is_reviewed_and_accepted() {
    let bench = synced_bench();
    // A service whose ONU serial only a client without a code carries.
    let client = crate::common::valid_docs(&bench, "ftth-clients")
        .into_iter()
        .find(|c| c["code"].as_str().unwrap_or_default().is_empty())
        .expect("a platform client without a code");
    let serial = client["onu"]["serial_number"].as_str().unwrap();
    let services = bench.dir.path().join("servicos.csv");
    std::fs::write(
        &services,
        format!("id_cliente_servico,name,onu_serial\nSVC-700001,Alguém,{serial}\n"),
    )
    .unwrap();
    bench.ok(&["services", "import", services.to_str().unwrap()]);

    let browser = Browser::start();
    let _console = signed_in(&bench, &browser);
    open(&browser, "#/matches", "#identification-counts");
    let card = browser
        .exec(
            "const m = [...document.querySelectorAll('li[data-match]')]
                 .find((li) => li.querySelector('a').textContent === 'SVC-700001');
             return m ? m.dataset.match : null;",
        )
        .as_str()
        .map(str::to_string)
        .expect("no suggestion for SVC-700001");
    let card = format!("li[data-match=\"{card}\"]");
    // Its reason names what agreed.
    let reasons = browser.text(&format!("{card} .reasons")).to_lowercase();
    assert!(reasons.contains(&serial.to_lowercase()), "{reasons}");
    browser.screenshot("matches");
    browser.click(&format!("{card} button.accept"));
    browser.wait_text(&format!("{card} .outcome"), "Aceita");
    // Accepted: the service is bound to the client's port, pushed.
    let binding = bench.ok(&["bindings", "--service", "SVC-700001", "--json"]);
    assert!(binding.contains("\"pushed\""), "{binding}");
}
