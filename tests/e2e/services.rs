//! Services from the ISP's management system: imported from CSV and JSON,
//! refused whole when any row is bad, matched to platform clients by code,
//! and exported as the codes file OZmap is sent.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::common::Bench;

fn write(bench: &Bench, name: &str, contents: &str) -> PathBuf {
    let path = bench.dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn import(bench: &Bench, path: &std::path::Path) -> String {
    bench.ok(&["services", "import", path.to_str().unwrap()])
}

fn list(bench: &Bench) -> Vec<Value> {
    serde_json::from_str(&bench.ok(&["services", "list", "--json"])).unwrap()
}

/// A Portuguese-locale spreadsheet's export: BOM, `;`, CRLF, decimal commas,
/// punctuated documents, padded text, quoted and unquoted commas.
const CSV: &str = "\u{feff}id_cliente_servico;name;document;address;lat;lng;pppoe_login;onu_serial;onu_mac;status\r\n\
    SVC-1;\"Conceição, Ana\";529.982.247-25;Rua das Flores, 10;-27,5954;-48,5480;ana@isp;ZTEG1234ABCD;aa-bb-cc-dd-ee-01; ativo \r\n\
    SVC-2;Mercado São José;11.222.333/0001-81;;;;;;;suspended\r\n";

const JSON: &str = r#"[
    {"id_cliente_servico": "SVC-3", "name": "Pedro", "lat": -27.6, "lng": -48.6, "onu_mac": "aabb.ccdd.ee03"},
    {"id_cliente_servico": 4, "document": "01234567890", "status": null}
]"#;

fn service(id: &str, fields: Value) -> Value {
    let mut all = json!({
        "id_cliente_servico": id, "name": null, "document": null, "address": null,
        "lat": null, "lng": null, "pppoe_login": null, "onu_serial": null,
        "onu_mac": null, "status": null, "platform_client_id": null,
    });
    all.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    all
}

#[test]
fn csv_and_json_imports_create_then_update_by_id() {
    let bench = Bench::new();
    let csv = write(&bench, "servicos.csv", CSV);
    let out = import(&bench, &csv);
    assert!(out.contains("2 created, 0 updated, 0 unchanged"), "{out}");
    let json = write(&bench, "servicos.json", JSON);
    let out = import(&bench, &json);
    assert!(out.contains("2 created, 0 updated, 0 unchanged"), "{out}");

    let expected = vec![
        service("4", json!({ "document": "01234567890" })),
        service(
            "SVC-1",
            json!({
                "name": "Conceição, Ana", "document": "52998224725", "address": "Rua das Flores, 10",
                "lat": -27.5954, "lng": -48.548, "pppoe_login": "ana@isp", "onu_serial": "ZTEG1234ABCD",
                "onu_mac": "AA:BB:CC:DD:EE:01", "status": "ativo",
            }),
        ),
        service(
            "SVC-2",
            json!({ "name": "Mercado São José", "document": "11222333000181", "status": "suspended" }),
        ),
        service(
            "SVC-3",
            json!({ "name": "Pedro", "lat": -27.6, "lng": -48.6, "onu_mac": "AA:BB:CC:DD:EE:03" }),
        ),
    ];
    assert_eq!(list(&bench), expected);

    // The same file again changes nothing; one changed name is one update.
    assert!(import(&bench, &csv).contains("0 created, 0 updated, 2 unchanged"));
    let renamed = write(
        &bench,
        "renomeado.csv",
        &CSV.replace("Mercado São José", "Mercado São José Ltda"),
    );
    let out = import(&bench, &renamed);
    assert!(out.contains("0 created, 1 updated, 1 unchanged"), "{out}");
    let shown: Value =
        serde_json::from_str(&bench.ok(&["services", "show", "SVC-2", "--json"])).unwrap();
    assert_eq!(shown["name"], "Mercado São José Ltda");
    assert_eq!(shown["document"], "11222333000181");

    // Services absent from a later file stay.
    assert_eq!(list(&bench).len(), 4);
}

#[test]
fn a_bad_file_is_refused_whole_naming_every_bad_line() {
    let bench = Bench::new();
    import(&bench, &write(&bench, "servicos.csv", CSV));
    let before = list(&bench);

    let bad = write(
        &bench,
        "ruim.csv",
        "id_cliente_servico;name;document;lat;lng\n\
         SVC-1;A good row whose change must not be written;;;\n\
         ;No id;;;\n\
         SVC-1;Duplicate;;;\n\
         SVC-9;Bad CPF;529.982.247-24;;\n\
         SVC-10;Lat only;;-27,5;\n\
         SVC-11;\"Two\nlines\";;;\n\
         SVC-12;Bad CPF and lat only;111.111.111-11;-48,5;\n",
    );
    let err = bench.fails(&["services", "import", bad.to_str().unwrap()]);
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(err.contains("6 bad row(s)"), "{err}");
    for expected in [
        "line 3: id_cliente_servico is missing",
        "line 4: id_cliente_servico \"SVC-1\" is already given at line 2",
        "line 5: document \"529.982.247-24\" is not a valid CPF",
        "line 6: lat is given without lng",
        // Line 7 holds a two-line name, which a name may not be (it would
        // forge a line wherever it is printed); the next row starts on line 9.
        "line 7: name \"Two\\nlines\" holds a control character",
        "line 9: document \"111.111.111-11\" is not a valid CPF",
        "; lat is given without lng",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    for good in ["line 2:", "line 8:"] {
        assert!(!err.contains(good), "{good} is not bad:\n{err}");
    }
    assert_eq!(list(&bench), before, "a refused file changed the store");

    let typo = write(
        &bench,
        "erro.csv",
        "id_cliente_servico,nome,name,telefone\nSVC-1,x,y,z\n",
    );
    let err = bench.fails(&["services", "import", typo.to_str().unwrap()]);
    assert!(
        err.contains("unknown column(s) \"nome\", \"telefone\""),
        "{err}"
    );
    assert_eq!(list(&bench), before, "a refused file changed the store");

    let json = write(
        &bench,
        "erro.json",
        r#"[{"id_cliente_servico": "SVC-1", "name": "x"}, {"id_cliente_servico": "SVC-2", "nmae": "y"}]"#,
    );
    let err = bench.fails(&["services", "import", json.to_str().unwrap()]);
    assert!(err.contains("item 2: unknown field(s) \"nmae\""), "{err}");
    assert!(!err.contains("item 1"), "{err}");
    assert_eq!(list(&bench), before, "a refused file changed the store");
}

#[test]
fn showing_an_unknown_service_says_so() {
    let bench = Bench::new();
    let err = bench.fails(&["services", "show", "SVC-404"]);
    assert!(
        err.contains("no service") && err.contains("SVC-404"),
        "{err}"
    );
    import(&bench, &write(&bench, "servicos.csv", CSV));
    let err = bench.fails(&["services", "show", "SVC-404", "--json"]);
    assert!(
        err.contains("no service") && err.contains("SVC-404"),
        "{err}"
    );
}

/// Put synchronised clients in the store as a sync would leave them.
/// Clients stored as a sync stores them: each element, and a current
/// one's code in its real column.
fn insert_clients(bench: &Bench, clients: &[(&str, Value, Option<&str>)]) {
    let now = "2025-01-01T00:00:00.000Z";
    bench.sql(&format!(
        "INSERT INTO integrations (id, name, api_url, api_key, \"user\", password, created_at)
         VALUES ('i1', 'ozmap', 'http://127.0.0.1:1', 'key', 'user', 'pw', '{now}')"
    ));
    for (id, code, removed_at) in clients {
        let data = json!({ "id": id, "code": code })
            .to_string()
            .replace('\'', "''");
        let removed_at = removed_at.map_or("NULL".to_string(), |r| format!("'{r}'"));
        bench.sql(&format!(
            "INSERT INTO elements (integration_id, kind, id, name, data, created_at, updated_at, removed_at)
             VALUES ('i1', 'client', '{id}', 'n', '{data}', '{now}', '{now}', {removed_at})"
        ));
        if removed_at == "NULL" {
            let code = code
                .as_str()
                .map_or("NULL".to_string(), |c| format!("'{c}'"));
            bench.sql(&format!(
                "INSERT INTO clients (integration_id, id, code) VALUES ('i1', '{id}', {code})"
            ));
        }
    }
}

#[test]
fn services_find_their_platform_client_by_code_and_export_codes_for_ozmap() {
    let bench = Bench::new();
    import(&bench, &write(&bench, "servicos.csv", CSV));
    import(
        &bench,
        &write(
            &bench,
            "mais.json",
            r#"[{"id_cliente_servico": "SVC-3", "name": "Zé \"Bigode\""}]"#,
        ),
    );
    insert_clients(
        &bench,
        &[
            ("c1", json!("SVC-1"), None),
            // A client removed from the platform matches nothing.
            ("c2", json!("SVC-2"), Some("2025-01-02T00:00:00.000Z")),
            ("c3", Value::Null, None),
        ],
    );

    let ids: Vec<(Value, Value)> = list(&bench)
        .iter()
        .map(|s| {
            (
                s["id_cliente_servico"].clone(),
                s["platform_client_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            (json!("SVC-1"), json!("c1")),
            (json!("SVC-2"), Value::Null),
            (json!("SVC-3"), Value::Null)
        ]
    );
    let shown: Value =
        serde_json::from_str(&bench.ok(&["services", "show", "SVC-1", "--json"])).unwrap();
    assert_eq!(shown["platform_client_id"], "c1");

    let out = bench.dir.path().join("codigos.csv");
    let output = bench.mapsync(&["services", "export-codes", "--out", out.to_str().unwrap()]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("wrote 3 service(s)"), "{stderr}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        written,
        "\u{feff}id_cliente_servico,name,document,address,lat,lng,ozmap_client_id\r\n\
         SVC-1,\"Conceição, Ana\",52998224725,\"Rua das Flores, 10\",-27.5954,-48.548,c1\r\n\
         SVC-2,Mercado São José,11222333000181,,,,\r\n\
         SVC-3,\"Zé \"\"Bigode\"\"\",,,,,\r\n"
    );

    // Without --out, the same bytes go to standard output.
    let stdout = bench.ok(&["services", "export-codes"]);
    assert_eq!(stdout, written);
}

#[test]
fn the_codes_file_neutralises_formulas_and_keeps_ids_exact() {
    let bench = Bench::new();
    let csv = "id_cliente_servico;name;address\n\
               SVC-1;\"=HYPERLINK(\"\"http://evil.example\"\",\"\"clique\"\")\";Rua A\n\
               SVC-2;+cmd|' /C calc'!A0;@SUM(1+1)\n\
               SVC-3;-2+3;Rua C, 3\n";
    import(&bench, &write(&bench, "servicos.csv", csv));
    insert_clients(&bench, &[("c1", json!("SVC-1"), None)]);
    let written = bench.ok(&["services", "export-codes"]);
    assert_eq!(
        written,
        "\u{feff}id_cliente_servico,name,document,address,lat,lng,ozmap_client_id\r\n\
         SVC-1,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"clique\"\")\",,Rua A,,,c1\r\n\
         SVC-2,'+cmd|' /C calc'!A0,,'@SUM(1+1),,,\r\n\
         SVC-3,'-2+3,,\"Rua C, 3\",,,\r\n"
    );

    // An id cannot be neutralised, so one a spreadsheet would evaluate is
    // refused at the import, the whole file with it.
    let before = list(&bench);
    let bad = write(
        &bench,
        "perigoso.csv",
        "id_cliente_servico,name\nSVC-4,Ana\n=1+1,Bia\n@x,Caio\n",
    );
    let err = bench.fails(&["services", "import", bad.to_str().unwrap()]);
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(
        err.contains("line 3: id_cliente_servico \"=1+1\" begins with '='"),
        "{err}"
    );
    assert!(err.contains("line 4: id_cliente_servico \"@x\""), "{err}");
    assert_eq!(list(&bench), before, "a refused file changed the store");

    // One stored by other means refuses the export, naming it, and writes
    // nothing.
    bench.sql(
        "INSERT INTO services (id_cliente_servico, imported_at, updated_at)
         VALUES ('+SVC-5', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')",
    );
    let out = bench.dir.path().join("codigos.csv");
    let err = bench.fails(&["services", "export-codes", "--out", out.to_str().unwrap()]);
    assert!(
        err.contains("id_cliente_servico \"+SVC-5\"") && err.contains("formula"),
        "{err}"
    );
    assert!(!out.exists(), "a refused export wrote a file");
    let output = bench.mapsync(&["services", "export-codes"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "a refused export printed rows");
}

fn utf16_le(text: &str, bom: bool) -> Vec<u8> {
    let bom = if bom { &[0xFF, 0xFE][..] } else { &[] };
    let units = text.encode_utf16().flat_map(u16::to_le_bytes);
    bom.iter().copied().chain(units).collect()
}

#[test]
fn a_utf16_file_is_refused_with_the_hint_that_fixes_it() {
    let bench = Bench::new();
    let text = "id_cliente_servico\tname\r\nSVC-1\tJoão\r\n";
    for (name, bytes) in [
        ("unicode.csv", utf16_le(text, true)),
        ("sem-bom.csv", utf16_le(text, false)),
    ] {
        let path = bench.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = bench.fails(&["services", "import", path.to_str().unwrap()]);
        assert!(
            err.contains("UTF-16") && err.contains("\"CSV UTF-8 (comma delimited)\""),
            "{name}: {err}"
        );
        assert!(!err.contains("WINDOWS-1252"), "{name}: {err}");
    }
    // A Windows-1252 file keeps its own hint.
    let path = bench.dir.path().join("latin1.csv");
    std::fs::write(&path, b"id_cliente_servico,name\nSVC-1,Jo\xe3o\n").unwrap();
    let err = bench.fails(&["services", "import", path.to_str().unwrap()]);
    assert!(
        err.contains("WINDOWS-1252") && !err.contains("UTF-16"),
        "{err}"
    );
    assert!(list(&bench).is_empty());
}

#[test]
fn two_exports_joined_end_to_end_import_with_clean_ids() {
    let bench = Bench::new();
    let first = "\u{feff}id_cliente_servico;name\r\nSVC-1;Ana\r\nSVC-2;Bia\r\n";
    let second = "\u{feff}id_cliente_servico;name\r\nSVC-3;Caio\r\n";
    let joined = write(&bench, "juntos.csv", &format!("{first}{second}"));
    let out = import(&bench, &joined);
    assert!(out.contains("3 created"), "{out}");
    let ids: Vec<Value> = list(&bench)
        .iter()
        .map(|s| s["id_cliente_servico"].clone())
        .collect();
    assert_eq!(ids, [json!("SVC-1"), json!("SVC-2"), json!("SVC-3")]);
    bench.ok(&["services", "show", "SVC-3"]);
}

#[test]
fn a_file_over_the_limit_is_refused_by_its_size_before_it_is_read() {
    let bench = Bench::new();
    let path = bench.dir.path().join("enorme.csv");
    // Sparse: its size is all that is ever looked at.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(17 << 20).unwrap();
    let err = bench.fails(&["services", "import", path.to_str().unwrap()]);
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(err.contains("17.0 MiB (17825792 bytes)"), "{err}");
    assert!(err.contains("at most 16 MiB"), "{err}");
    assert!(list(&bench).is_empty());
}
