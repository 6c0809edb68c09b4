//! The schema, version by version, for both stores. Each entry moves the
//! schema one version up; append, never edit. The two lists keep the same
//! numbering: version N means the same tables and columns in both.
//!
//! Differences are of dialect only: PostgreSQL gets `BIGINT` (so every
//! integer reads back as one type), `BOOLEAN` for flags (SQLite's are
//! integers; statements write `TRUE`/`FALSE`, which both read),
//! `DOUBLE PRECISION`, identity columns, and JSON indexes over
//! `data::jsonb`. PostgreSQL support began at
//! version 9, so its entries that only converted old SQLite data are
//! empty.

use anyhow::{Context, Result, ensure};

use super::db::{Db, Kind};
use crate::params;

pub const SQLITE: &[&str] = &[
    // 1: integrations, their runs and the elements they bring.
    "CREATE TABLE integrations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        api_url TEXT NOT NULL,
        api_key TEXT NOT NULL,
        user TEXT NOT NULL,
        password TEXT NOT NULL,
        project_name TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL,
        report TEXT,
        error TEXT
    );
    CREATE INDEX runs_by_integration ON runs(integration_id, id);
    CREATE TABLE elements (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        removed_at TEXT,
        PRIMARY KEY (integration_id, kind, id)
    ) WITHOUT ROWID;",
    // 2: local mapping projects, the ISP's customer services, bindings of
    // services to splitter ports with their audit trail, and the outbox of
    // pushes to the platform.
    "CREATE TABLE projects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    ALTER TABLE integrations ADD COLUMN project_id INTEGER REFERENCES projects(id);
    ALTER TABLE integrations ADD COLUMN detached_at TEXT;
    CREATE UNIQUE INDEX integrations_by_project ON integrations(project_id) WHERE project_id IS NOT NULL;
    CREATE TABLE services (
        id_cliente_servico TEXT PRIMARY KEY,
        name TEXT,
        document TEXT,
        address TEXT,
        lat REAL,
        lng REAL,
        pppoe_login TEXT,
        onu_serial TEXT,
        onu_mac TEXT,
        status TEXT,
        imported_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE bindings (
        service_id TEXT PRIMARY KEY REFERENCES services(id_cliente_servico),
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        splitter_id TEXT NOT NULL,
        port INTEGER NOT NULL,
        box_id TEXT,
        state TEXT NOT NULL,
        reason TEXT,
        platform_client_id TEXT,
        platform_property_id TEXT,
        created_property INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX bindings_by_port ON bindings(integration_id, splitter_id, port);
    CREATE TABLE binding_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        service_id TEXT NOT NULL,
        at TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX binding_events_by_service ON binding_events(service_id, id);
    CREATE INDEX elements_client_code ON elements(integration_id, json_extract(data, '$.code'))
        WHERE kind = 'client';
    CREATE INDEX elements_property_client ON elements(integration_id, json_extract(data, '$.client'))
        WHERE kind = 'property';
    CREATE INDEX elements_property_port ON elements(integration_id, json_extract(data, '$.connection.splitter'))
        WHERE kind = 'property';
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        service_id TEXT NOT NULL,
        operation TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL
    );",
    // 3: which process runs a run (to tell a crashed run from a live one),
    // each integration's daily sync time, and the daemon's settings.
    "ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE integrations ADD COLUMN sync_time TEXT NOT NULL DEFAULT '04:00';
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 4: a run's staging: what it read, applied to `elements` at its end.
    "CREATE TABLE run_elements (
        run_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        change TEXT NOT NULL,
        PRIMARY KEY (run_id, kind, id)
    ) WITHOUT ROWID;
    CREATE TABLE run_kinds (
        run_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (run_id, kind)
    ) WITHOUT ROWID;",
    // 5: an element the platform now sends invalid keeps its last valid
    // version, flagged; which kinds an integration synchronises and its
    // removal guard; whether a succeeded run's identification is done.
    "ALTER TABLE elements ADD COLUMN invalid_reason TEXT;
    ALTER TABLE integrations ADD COLUMN kinds TEXT NOT NULL DEFAULT 'pole,box,splitter,client,property';
    ALTER TABLE integrations ADD COLUMN max_removal_percent INTEGER NOT NULL DEFAULT 20;
    ALTER TABLE runs ADD COLUMN identified INTEGER NOT NULL DEFAULT 1;",
    // 6: integrations' API keys and passwords are encrypted from here on
    // (`open` encrypts those an older mapsync stored in clear). Nothing in
    // the schema changes: the version alone keeps an older mapsync, which
    // would send the ciphertext as its key, away from this database.
    "-- secrets encrypted at rest",
    // 7: each element's fingerprint, computed by the component, by which a
    // run tells updated from unchanged (NULL: stored before fingerprints;
    // compared by content once). Splitters' and properties' data said
    // `box_`, the binding generator's name for the WIT field `box`: stored
    // data uses the WIT's names, so the key is renamed (staged rows of a
    // run still going are renamed too; `invalid` rows hold a reason and
    // unchanged ones nothing, so only created and updated rows).
    "ALTER TABLE elements ADD COLUMN fingerprint INTEGER;
    ALTER TABLE run_elements ADD COLUMN fingerprint INTEGER;
    UPDATE elements
        SET data = json_set(json_remove(data, '$.box_'), '$.box', json_extract(data, '$.box_'))
        WHERE kind IN ('splitter', 'property') AND json_valid(data) AND json_type(data, '$.box_') IS NOT NULL;
    UPDATE run_elements
        SET data = json_set(json_remove(data, '$.box_'), '$.box', json_extract(data, '$.box_'))
        WHERE kind IN ('splitter', 'property') AND change IN ('created', 'updated')
          AND json_valid(data) AND json_type(data, '$.box_') IS NOT NULL;",
    // 8: what a person decided of a suggested match, so a rejected pair is
    // never suggested again and every decision is kept.
    "CREATE TABLE match_decisions (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        service_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        score REAL,
        decided_at TEXT NOT NULL,
        PRIMARY KEY (integration_id, service_id, client_id)
    ) WITHOUT ROWID;",
    // 9: a binding that moves a customer the platform already places: the
    // platform property its confirmed push reconnects (`bind --move`).
    "ALTER TABLE bindings ADD COLUMN moving_property_id TEXT;",
    // 10: several hosts share the work. A run records its host and beats
    // while it goes (a run whose beat stopped is dead); one running run per
    // integration, by index; each scheduled slot of each integration is
    // claimed by one host, with a lease others take over when it expires;
    // a queued push is claimed by the host that sends it.
    "ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
    UPDATE runs SET outcome = 'interrupted', ended_at = coalesce(ended_at, started_at),
        error = 'the process stopped before the run ended; nothing it read was kept'
        WHERE outcome = 'running'
          AND id NOT IN (SELECT max(id) FROM runs WHERE outcome = 'running' GROUP BY integration_id);
    CREATE UNIQUE INDEX one_running_run ON runs(integration_id) WHERE outcome = 'running';
    CREATE TABLE slot_claims (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        slot TEXT NOT NULL,
        host TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (integration_id, slot)
    ) WITHOUT ROWID;
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_until TEXT;",
    // 11: a running run's progress, written by its host, so that every
    // host can show it.
    "ALTER TABLE runs ADD COLUMN progress TEXT;",
    // 12: what is asked of the network, in real columns beside each
    // element's JSON, for current (not removed) elements only: a box's
    // project and place, a splitter's box and kind, its ports, a property's
    // box, client and port, a client's code. Every sync's commit keeps them
    // (`store/network.rs`); filled here from what is stored. Boxes' places
    // are in an R*Tree (`box_places`, kept by triggers) keyed by the box's
    // row number `n`, which PostgreSQL has no need of. A splitter keeps
    // its free ports (`free`: numbers in order, comma-separated; NULL while
    // to be worked out again). Elements are found by kind and id alone
    // (which integration holds a box), and removed ones apart.
    "CREATE TABLE boxes (
        n INTEGER PRIMARY KEY,
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        project TEXT,
        lat REAL,
        lng REAL,
        UNIQUE (integration_id, id)
    );
    CREATE VIRTUAL TABLE box_places USING rtree(n, min_lat, max_lat, min_lng, max_lng);
    CREATE TRIGGER box_placed AFTER INSERT ON boxes
        WHEN new.lat IS NOT NULL AND new.lng IS NOT NULL
    BEGIN
        INSERT INTO box_places VALUES (new.n, new.lat, new.lat, new.lng, new.lng);
    END;
    CREATE TRIGGER box_moved AFTER UPDATE OF n, lat, lng ON boxes
    BEGIN
        DELETE FROM box_places WHERE n = old.n;
        INSERT INTO box_places SELECT new.n, new.lat, new.lat, new.lng, new.lng
            WHERE new.lat IS NOT NULL AND new.lng IS NOT NULL;
    END;
    CREATE TRIGGER box_gone AFTER DELETE ON boxes
    BEGIN
        DELETE FROM box_places WHERE n = old.n;
    END;
    CREATE TABLE splitters (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        box_id TEXT,
        service INTEGER NOT NULL,
        free TEXT,
        PRIMARY KEY (integration_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX splitters_by_box ON splitters(integration_id, box_id);
    CREATE INDEX splitters_stale ON splitters(integration_id) WHERE free IS NULL;
    CREATE TABLE ports (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        splitter_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        blocked INTEGER NOT NULL,
        PRIMARY KEY (integration_id, splitter_id, number)
    ) WITHOUT ROWID;
    CREATE TABLE properties (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        box_id TEXT,
        client_id TEXT,
        client_code TEXT,
        splitter_id TEXT,
        port INTEGER,
        PRIMARY KEY (integration_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX properties_by_port ON properties(integration_id, splitter_id, port);
    CREATE INDEX properties_by_box ON properties(integration_id, box_id);
    CREATE TABLE clients (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        code TEXT,
        PRIMARY KEY (integration_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX elements_by_id ON elements(kind, id);
    CREATE INDEX elements_removed ON elements(integration_id, kind, id) WHERE removed_at IS NOT NULL;
    INSERT INTO boxes (integration_id, id, project, lat, lng)
        SELECT integration_id, id, json_extract(data, '$.project'),
               CAST(json_extract(data, '$.position.lat') AS REAL),
               CAST(json_extract(data, '$.position.lng') AS REAL)
        FROM elements WHERE kind = 'box' AND removed_at IS NULL AND json_valid(data);
    INSERT INTO splitters (integration_id, id, box_id, service)
        SELECT integration_id, id, json_extract(data, '$.box'),
               coalesce(json_type(data, '$.service') = 'true', 0)
        FROM elements WHERE kind = 'splitter' AND removed_at IS NULL AND json_valid(data);
    INSERT INTO ports (integration_id, splitter_id, number, blocked)
        SELECT e.integration_id, e.id, CAST(json_extract(p.value, '$.number') AS INTEGER),
               coalesce(json_type(p.value, '$.blocked') = 'true', 0)
        FROM elements e, json_each(e.data, '$.ports') p
        WHERE e.kind = 'splitter' AND e.removed_at IS NULL AND json_valid(e.data)
          AND json_type(p.value, '$.number') = 'integer'
        ON CONFLICT DO NOTHING;
    INSERT INTO properties (integration_id, id, box_id, client_id, client_code, splitter_id, port)
        SELECT integration_id, id, json_extract(data, '$.box'), json_extract(data, '$.client'),
               json_extract(data, '$.client_code'), json_extract(data, '$.connection.splitter'),
               CAST(json_extract(data, '$.connection.port') AS INTEGER)
        FROM elements WHERE kind = 'property' AND removed_at IS NULL AND json_valid(data);
    INSERT INTO clients (integration_id, id, code)
        SELECT integration_id, id, json_extract(data, '$.code')
        FROM elements WHERE kind = 'client' AND removed_at IS NULL AND json_valid(data);
    UPDATE splitters SET free = (
            SELECT coalesce(group_concat(p.number, ',' ORDER BY p.number), '') FROM ports p
            WHERE p.integration_id = splitters.integration_id AND p.splitter_id = splitters.id
              AND NOT p.blocked
              AND NOT EXISTS (SELECT 1 FROM properties t WHERE t.integration_id = p.integration_id
                              AND t.splitter_id = p.splitter_id AND t.port = p.number));
    PRAGMA analysis_limit = 1000;
    ANALYZE boxes; ANALYZE splitters; ANALYZE ports; ANALYZE properties; ANALYZE clients;",
    // 13: incremental sync. What the last applied run left for the next
    // (the component's opaque state: watermarks), written with the run's
    // elements; and how often a full sync runs anyway. Identification reads
    // the properties of a page of clients.
    "ALTER TABLE integrations ADD COLUMN sync_state TEXT;
    ALTER TABLE integrations ADD COLUMN full_sync_hours INTEGER NOT NULL DEFAULT 168;
    CREATE INDEX properties_by_client ON properties(integration_id, client_id);",
    // 14: a run's staging holds whole elements, rows too large for a table
    // clustered on its key (SQLite's WITHOUT ROWID is for small rows): a
    // plain table with its key indexed takes a network's worth faster.
    "CREATE TABLE run_elements_new (
        run_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        change TEXT NOT NULL,
        fingerprint INTEGER,
        UNIQUE (run_id, kind, id)
    );
    INSERT INTO run_elements_new (run_id, kind, id, name, data, change, fingerprint)
        SELECT run_id, kind, id, name, data, change, fingerprint FROM run_elements;
    DROP TABLE run_elements;
    ALTER TABLE run_elements_new RENAME TO run_elements;",
    // 15: the same for the elements themselves; and the JSON indexes the
    // network's real columns (12) replaced go.
    "CREATE TABLE elements_new (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        removed_at TEXT,
        invalid_reason TEXT,
        fingerprint INTEGER,
        UNIQUE (integration_id, kind, id)
    );
    INSERT INTO elements_new (integration_id, kind, id, name, data, created_at, updated_at,
                              removed_at, invalid_reason, fingerprint)
        SELECT integration_id, kind, id, name, data, created_at, updated_at,
               removed_at, invalid_reason, fingerprint FROM elements;
    DROP TABLE elements;
    ALTER TABLE elements_new RENAME TO elements;
    CREATE INDEX elements_client_code ON elements(integration_id, json_extract(data, '$.code'))
        WHERE kind = 'client';
    CREATE INDEX elements_by_id ON elements(kind, id);
    CREATE INDEX elements_removed ON elements(integration_id, kind, id) WHERE removed_at IS NOT NULL;",
    // 16: SQLite's text order is byte order: its key index already serves
    // the walk of an incremental run's ids.
    "SELECT 1;",
    // 17: applying a run looks for elements stored before fingerprints and
    // for flagged ones; both are few or none, and without these a run read
    // every stored element twice to find them.
    "CREATE INDEX elements_unfingerprinted ON elements(integration_id) WHERE fingerprint IS NULL;
    CREATE INDEX elements_flagged ON elements(integration_id) WHERE invalid_reason IS NOT NULL;",
    // 18: clients' codes are read from their real column (`clients.code`,
    // 12); the index of the JSON's code served no query and cost every
    // client written a parse of its JSON.
    "DROP INDEX elements_client_code;",
    // 19: the elements held (not removed), by key: an incremental run
    // walks their ids (`stored-ids`) and counts them (`tally`), and the key
    // index alone made each id read its whole row to see `removed_at`.
    "CREATE INDEX elements_held ON elements(integration_id, kind, id) WHERE removed_at IS NULL;",
    // 20: the elements a run removed, by the instant it removed them: their
    // real columns go when it is applied, and finding them among every
    // element ever removed visited all of those on every run.
    "CREATE INDEX elements_removed_when ON elements(integration_id, removed_at)
        WHERE removed_at IS NOT NULL;",
    // 21: PostgreSQL's staging leaves the write-ahead log (there); here a
    // run stages in a table of its own connection already (`staging`).
    "SELECT 1;",
    // 22: an incremental sync every few minutes beside the daily one, so
    // that a technician binding a customer sees the port states of a
    // quarter of an hour ago (0: none).
    "ALTER TABLE integrations ADD COLUMN refresh_every INTEGER NOT NULL DEFAULT 15;",
    // 23: how hard an integration may ask its platform: requests under way
    // at once (0: the component's default) and started a second (0: no
    // ceiling of its own).
    "ALTER TABLE integrations ADD COLUMN requests_at_once INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE integrations ADD COLUMN requests_per_second INTEGER NOT NULL DEFAULT 0;",
    // 24: a plain http:// address to a public host, which sends the key
    // and password in clear, is taken only when the person said so, and
    // that is kept and shown.
    "ALTER TABLE integrations ADD COLUMN insecure_http INTEGER NOT NULL DEFAULT 0;",
];

pub const POSTGRES: &[&str] = &[
    // 1
    "CREATE TABLE integrations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        api_url TEXT NOT NULL,
        api_key TEXT NOT NULL,
        \"user\" TEXT NOT NULL,
        password TEXT NOT NULL,
        project_name TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL,
        report TEXT,
        error TEXT
    );
    CREATE INDEX runs_by_integration ON runs(integration_id, id);
    CREATE TABLE elements (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        removed_at TEXT,
        PRIMARY KEY (integration_id, kind, id)
    );",
    // 2
    "CREATE TABLE projects (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    ALTER TABLE integrations ADD COLUMN project_id BIGINT REFERENCES projects(id);
    ALTER TABLE integrations ADD COLUMN detached_at TEXT;
    CREATE UNIQUE INDEX integrations_by_project ON integrations(project_id) WHERE project_id IS NOT NULL;
    CREATE TABLE services (
        id_cliente_servico TEXT PRIMARY KEY,
        name TEXT,
        document TEXT,
        address TEXT,
        lat DOUBLE PRECISION,
        lng DOUBLE PRECISION,
        pppoe_login TEXT,
        onu_serial TEXT,
        onu_mac TEXT,
        status TEXT,
        imported_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE bindings (
        service_id TEXT PRIMARY KEY REFERENCES services(id_cliente_servico),
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        splitter_id TEXT NOT NULL,
        port BIGINT NOT NULL,
        box_id TEXT,
        state TEXT NOT NULL,
        reason TEXT,
        platform_client_id TEXT,
        platform_property_id TEXT,
        created_property BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX bindings_by_port ON bindings(integration_id, splitter_id, port);
    CREATE TABLE binding_events (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        service_id TEXT NOT NULL,
        at TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX binding_events_by_service ON binding_events(service_id, id);
    CREATE INDEX elements_client_code ON elements(integration_id, (data::jsonb #>> '{code}'))
        WHERE kind = 'client';
    CREATE INDEX elements_property_client ON elements(integration_id, (data::jsonb #>> '{client}'))
        WHERE kind = 'property';
    CREATE INDEX elements_property_port ON elements(integration_id, (data::jsonb #>> '{connection,splitter}'))
        WHERE kind = 'property';
    CREATE TABLE outbox (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        service_id TEXT NOT NULL,
        operation TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL
    );",
    // 3
    "ALTER TABLE runs ADD COLUMN pid BIGINT;
    ALTER TABLE integrations ADD COLUMN sync_time TEXT NOT NULL DEFAULT '04:00';
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 4
    "CREATE TABLE run_elements (
        run_id BIGINT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        change TEXT NOT NULL,
        PRIMARY KEY (run_id, kind, id)
    );
    CREATE TABLE run_kinds (
        run_id BIGINT NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (run_id, kind)
    );",
    // 5
    "ALTER TABLE elements ADD COLUMN invalid_reason TEXT;
    ALTER TABLE integrations ADD COLUMN kinds TEXT NOT NULL DEFAULT 'pole,box,splitter,client,property';
    ALTER TABLE integrations ADD COLUMN max_removal_percent BIGINT NOT NULL DEFAULT 20;
    ALTER TABLE runs ADD COLUMN identified BOOLEAN NOT NULL DEFAULT TRUE;",
    // 6
    "-- secrets encrypted at rest",
    // 7 (no SQLite-era data to convert)
    "ALTER TABLE elements ADD COLUMN fingerprint BIGINT;
    ALTER TABLE run_elements ADD COLUMN fingerprint BIGINT;",
    // 8
    "CREATE TABLE match_decisions (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        service_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        score DOUBLE PRECISION,
        decided_at TEXT NOT NULL,
        PRIMARY KEY (integration_id, service_id, client_id)
    );",
    // 9
    "ALTER TABLE bindings ADD COLUMN moving_property_id TEXT;",
    // 10
    "ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
    CREATE UNIQUE INDEX one_running_run ON runs(integration_id) WHERE outcome = 'running';
    CREATE TABLE slot_claims (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        slot TEXT NOT NULL,
        host TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        done BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (integration_id, slot)
    );
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_until TEXT;",
    // 11
    "ALTER TABLE runs ADD COLUMN progress TEXT;",
    // 12: boxes' places in a GiST index of points (PostgreSQL's own, no
    // extension), in place of SQLite's R*Tree.
    "CREATE TABLE boxes (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        project TEXT,
        lat DOUBLE PRECISION,
        lng DOUBLE PRECISION,
        PRIMARY KEY (integration_id, id)
    );
    CREATE INDEX box_places ON boxes USING gist (point(lng, lat));
    CREATE TABLE splitters (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        box_id TEXT,
        service BOOLEAN NOT NULL,
        free TEXT,
        PRIMARY KEY (integration_id, id)
    );
    CREATE INDEX splitters_by_box ON splitters(integration_id, box_id);
    CREATE INDEX splitters_stale ON splitters(integration_id) WHERE free IS NULL;
    CREATE TABLE ports (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        splitter_id TEXT NOT NULL,
        number BIGINT NOT NULL,
        blocked BOOLEAN NOT NULL,
        PRIMARY KEY (integration_id, splitter_id, number)
    );
    CREATE TABLE properties (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        box_id TEXT,
        client_id TEXT,
        client_code TEXT,
        splitter_id TEXT,
        port BIGINT,
        PRIMARY KEY (integration_id, id)
    );
    CREATE INDEX properties_by_port ON properties(integration_id, splitter_id, port);
    CREATE INDEX properties_by_box ON properties(integration_id, box_id);
    CREATE TABLE clients (
        integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        code TEXT,
        PRIMARY KEY (integration_id, id)
    );
    CREATE INDEX elements_by_id ON elements(kind, id);
    CREATE INDEX elements_removed ON elements(integration_id, kind, id) WHERE removed_at IS NOT NULL;
    INSERT INTO boxes (integration_id, id, project, lat, lng)
        SELECT integration_id, id, d #>> '{project}',
               (d #>> '{position,lat}')::double precision, (d #>> '{position,lng}')::double precision
        FROM (SELECT integration_id, id, data::jsonb AS d FROM elements
              WHERE kind = 'box' AND removed_at IS NULL OFFSET 0) e;
    INSERT INTO splitters (integration_id, id, box_id, service)
        SELECT integration_id, id, d #>> '{box}', coalesce(d -> 'service' = 'true'::jsonb, FALSE)
        FROM (SELECT integration_id, id, data::jsonb AS d FROM elements
              WHERE kind = 'splitter' AND removed_at IS NULL OFFSET 0) e;
    INSERT INTO ports (integration_id, splitter_id, number, blocked)
        SELECT e.integration_id, e.id, (port ->> 'number')::bigint,
               coalesce(port -> 'blocked' = 'true'::jsonb, FALSE)
        FROM (SELECT integration_id, id, data::jsonb AS d FROM elements
              WHERE kind = 'splitter' AND removed_at IS NULL OFFSET 0) e
        CROSS JOIN LATERAL jsonb_array_elements(
            CASE jsonb_typeof(e.d -> 'ports') WHEN 'array' THEN e.d -> 'ports' ELSE '[]'::jsonb END) AS p(port)
        WHERE jsonb_typeof(port -> 'number') = 'number'
        ON CONFLICT DO NOTHING;
    INSERT INTO properties (integration_id, id, box_id, client_id, client_code, splitter_id, port)
        SELECT integration_id, id, d #>> '{box}', d #>> '{client}', d #>> '{client_code}',
               d #>> '{connection,splitter}', (d #>> '{connection,port}')::bigint
        FROM (SELECT integration_id, id, data::jsonb AS d FROM elements
              WHERE kind = 'property' AND removed_at IS NULL OFFSET 0) e;
    INSERT INTO clients (integration_id, id, code)
        SELECT integration_id, id, d #>> '{code}'
        FROM (SELECT integration_id, id, data::jsonb AS d FROM elements
              WHERE kind = 'client' AND removed_at IS NULL OFFSET 0) e;
    UPDATE splitters SET free = (
            SELECT coalesce(string_agg(p.number::text, ',' ORDER BY p.number), '') FROM ports p
            WHERE p.integration_id = splitters.integration_id AND p.splitter_id = splitters.id
              AND NOT p.blocked
              AND NOT EXISTS (SELECT 1 FROM properties t WHERE t.integration_id = p.integration_id
                              AND t.splitter_id = p.splitter_id AND t.port = p.number));
    ANALYZE boxes, splitters, ports, properties, clients;",
    // 13
    "ALTER TABLE integrations ADD COLUMN sync_state TEXT;
    ALTER TABLE integrations ADD COLUMN full_sync_hours INTEGER NOT NULL DEFAULT 168;
    CREATE INDEX properties_by_client ON properties(integration_id, client_id);",
    // 14: PostgreSQL's tables are heaps already.
    "SELECT 1;",
    // 15
    "DROP INDEX elements_property_client;
    DROP INDEX elements_property_port;",
    // 16: an incremental run walks the held ids in byte order (`stored-ids`),
    // which the locale's order of the key index cannot serve: each page
    // would sort every held id of the kind.
    "CREATE INDEX elements_held_bytes ON elements(integration_id, kind, (id COLLATE \"C\"))
        WHERE removed_at IS NULL;",
    // 17
    "CREATE INDEX elements_unfingerprinted ON elements(integration_id) WHERE fingerprint IS NULL;
    CREATE INDEX elements_flagged ON elements(integration_id) WHERE invalid_reason IS NOT NULL;",
    // 18
    "DROP INDEX elements_client_code;",
    // 19: the held elements' index is `elements_held_bytes` (16).
    "SELECT 1;",
    // 20
    "CREATE INDEX elements_removed_when ON elements(integration_id, removed_at)
        WHERE removed_at IS NOT NULL;",
    // 21: a run's staging is written once, not also to the write-ahead log:
    // a network's worth of rows that only the run's own apply reads back.
    // A crash (or a failover to a replica, which never sees them) empties
    // these tables; a run that did not end keeps nothing staged anyway,
    // and the next one starts over. A first sync at 1M spent a third less
    // waiting for its store.
    "ALTER TABLE run_elements SET UNLOGGED;
    ALTER TABLE run_kinds SET UNLOGGED;",
    // 22: as SQLite's.
    "ALTER TABLE integrations ADD COLUMN refresh_every INTEGER NOT NULL DEFAULT 15;",
    // 23: as SQLite's.
    "ALTER TABLE integrations ADD COLUMN requests_at_once INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE integrations ADD COLUMN requests_per_second INTEGER NOT NULL DEFAULT 0;",
    // 24: as SQLite's.
    "ALTER TABLE integrations ADD COLUMN insecure_http BOOLEAN NOT NULL DEFAULT FALSE;",
];

/// Bring the schema up to date. SQLite moves a version per transaction;
/// PostgreSQL moves all at once, under an advisory lock so that hosts
/// starting together take turns (DDL is transactional there).
pub fn migrate(db: &Db) -> Result<()> {
    match db.kind() {
        Kind::Sqlite => {
            let version = db.query_row("PRAGMA user_version", params![], |r| r.get(0))?;
            for (i, sql) in pending(SQLITE, version)? {
                let tx = db.transaction()?;
                tx.batch(sql)
                    .with_context(|| format!("moving the schema to version {}", i + 1))?;
                tx.batch(&format!("PRAGMA user_version = {}", i + 1))?;
                tx.commit()?;
            }
        }
        Kind::Postgres => {
            let tx = db.transaction()?;
            tx.batch("SELECT pg_advisory_xact_lock(5550101)")?;
            tx.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
            let version = tx
                .query_row("SELECT max(version) FROM schema_version", params![], |r| {
                    r.get::<Option<usize>>(0)
                })?
                .unwrap_or(0);
            let steps = pending(POSTGRES, version)?;
            for &(i, sql) in &steps {
                tx.batch(sql)
                    .with_context(|| format!("moving the schema to version {}", i + 1))?;
            }
            if let Some(&(last, _)) = steps.last() {
                tx.execute("DELETE FROM schema_version", params![])?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    params![last + 1],
                )?;
            }
            tx.commit()?;
        }
    }
    Ok(())
}

/// The steps after `version`, numbered from 0.
fn pending(steps: &'static [&'static str], version: usize) -> Result<Vec<(usize, &'static str)>> {
    ensure!(
        version <= steps.len(),
        "the database has schema version {version}, newer than this mapsync knows ({}); use a newer mapsync",
        steps.len()
    );
    Ok(steps.iter().copied().enumerate().skip(version).collect())
}
