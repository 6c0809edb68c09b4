// The official OZmap SDK against mapsync's OZmap test server (the binary that
// `cargo test --workspace`, step 2 of tests/run, builds): its findAll follows nextUrl
// without `page` and must end with every row, and its zod schemas must accept
// every valid row the server sends.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The SDK's logger prints every request at debug level and, unless told
// not to, serves its own HTTP control port (9898), which keeps Node alive.
process.env.OZLOGGER_HTTP ??= 'false';
process.env.OZLOGGER_LEVEL ??= 'warn';

const require = createRequire(import.meta.url);
const sdkModule = require('@ozmap/ozmap-sdk');
const OZMapSDK = sdkModule.default;

const here = dirname(fileURLToPath(import.meta.url));
const workspace = resolve(here, '..', '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR
  ? resolve(workspace, process.env.CARGO_TARGET_DIR)
  : join(workspace, 'target');
const binary = join(targetDir, 'debug', 'ozmap-test-server');
const API_KEY = 'sdk-test-key';

let server;
let url;

/** Starts the test server on a free port and reads its address from stdout. */
async function startServer(args) {
  if (!existsSync(binary)) {
    throw new Error(`no ${binary}: these tests use what \`cargo test --workspace\` builds (tests/run runs it first)`);
  }
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const address = await new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no address from the server: ${out}`)), 60_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const found = out.match(/listening on (http:\/\/\S+)/);
      if (found) {
        clearTimeout(timer);
        resolveUrl(found[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`the server exited (${code}): ${out}`)));
  });
  child.stdout.resume();
  return { child, address };
}

before(async () => {
  ({ child: server, address: url } = await startServer([
    '--listen', '127.0.0.1:0', '--elements', '3000', '--seed', '11', '--api-key', API_KEY,
  ]));
});

after(() => {
  server?.kill();
});

const sdk = () => new OZMapSDK(url, { apiKey: API_KEY });

/** Rows the generator made invalid on purpose (they must fail the schemas). */
const isInvalid = (row) => !row.id || String(row.observation ?? '').startsWith('INVALID');

// What each route's proxy is, its schema, and the `kind` this server (like
// OZmap's own answers) sends where the SDK's schema names another literal.
const ROUTES = [
  { route: 'projects', proxy: 'project', schema: 'ProjectSchema' },
  { route: 'poles', proxy: 'pole', schema: 'PoleSchema', kind: 'Pole' },
  { route: 'boxes', proxy: 'box', schema: 'BoxSchema' },
  { route: 'splitters', proxy: 'splitter', schema: 'SplitterSchema' },
  { route: 'splitter-types', proxy: 'splitterType', schema: 'SplitterTypeSchema' },
  { route: 'ftth-clients', proxy: 'ftthClient', schema: 'FTTHClientSchema', kind: 'ftth' },
  // The SDK types a property's `client` as the populated client; unpopulated
  // it is an id or null (checked below).
  { route: 'properties', proxy: 'property', schema: 'PropertySchema', omit: ['client'] },
];

function schemaFor({ schema, kind, omit = [] }) {
  const mask = Object.fromEntries([...omit, ...(kind ? ['kind'] : [])].map((k) => [k, true]));
  return Object.keys(mask).length ? sdkModule[schema].omit(mask) : sdkModule[schema];
}

async function serverTotal(proxy) {
  const first = await sdk()[proxy].find({ page: 1, limit: 1 });
  return first.total;
}

for (const spec of ROUTES) {
  test(`findAll on ${spec.route} ends with every row, which the SDK's schema accepts`, { timeout: 120_000 }, async () => {
    const total = await serverTotal(spec.proxy);
    assert.ok(total > 0, `${spec.route} is empty`);
    for (const batchSize of [undefined, 7]) {
      const rows = await sdk()[spec.proxy].findAll(batchSize ? { batchSize } : undefined);
      assert.equal(rows.length, total, `${spec.route} (batch ${batchSize ?? 100})`);
      const ids = new Set(rows.filter((r) => r.id).map((r) => r.id));
      assert.equal(ids.size, rows.filter((r) => r.id).length, `${spec.route}: a row came twice`);
    }
    const rows = await sdk()[spec.proxy].findAll();
    const schema = schemaFor(spec);
    let valid = 0;
    for (const row of rows) {
      const parsed = schema.safeParse(row);
      if (isInvalid(row)) {
        // Made invalid on purpose: one without id must fail the schema (an
        // orphan splitter breaks no schema, only a reference).
        if (!row.id) assert.ok(!parsed.success, `${spec.route}: passed without id`);
        continue;
      }
      assert.ok(parsed.success, `${spec.route} ${row.id}: ${JSON.stringify(parsed.error?.issues)}`);
      if (spec.kind) assert.equal(row.kind, spec.kind);
      if (spec.route === 'properties') {
        assert.ok(row.client === null || typeof row.client === 'string', JSON.stringify(row.client));
      }
      valid += 1;
    }
    assert.ok(valid > 0);
  });
}

test('every client has a code, empty when it has none, and the SDK accepts both', async () => {
  const clients = await sdk().ftthClient.findAll({ batchSize: 50 });
  const valid = clients.filter((c) => !isInvalid(c));
  assert.ok(valid.every((c) => typeof c.code === 'string'));
  const empty = valid.filter((c) => c.code === '');
  assert.ok(empty.length > 0, 'the generated network has clients without code');
  const schema = sdkModule.FTTHClientSchema.omit({ kind: true });
  for (const c of empty) assert.ok(schema.safeParse(c).success, JSON.stringify(c));
});

test('findAll with a filter and a sort in the body pages through the filtered rows', { timeout: 60_000 }, async () => {
  const filter = [{ property: 'code', operator: 'like', value: '^SVC-' }];
  const sorter = [{ property: 'updatedAt', direction: -1 }];
  const first = await sdk().ftthClient.find({ page: 1, limit: 1, filter });
  const rows = await sdk().ftthClient.findAll({ filter, sorter, batchSize: 9 });
  assert.equal(rows.length, first.total);
  assert.ok(rows.every((c) => c.code.startsWith('SVC-')));
  const stamps = rows.map((c) => c.updatedAt);
  assert.deepEqual(stamps, [...stamps].sort().reverse());
});

test('populated properties carry clients the SDK accepts', async () => {
  const page = await sdk().property.find({ page: 1, limit: 40, populate: 'client' });
  const held = page.rows.filter((p) => !isInvalid(p) && p.client && typeof p.client === 'object');
  assert.ok(held.length > 0);
  const schema = sdkModule.PropertySchema.omit({ client: true });
  const clientSchema = sdkModule.FTTHClientSchema.omit({ kind: true });
  for (const p of held) {
    assert.ok(schema.safeParse(p).success, JSON.stringify(p));
    assert.ok(clientSchema.safeParse(p.client).success, JSON.stringify(p.client));
  }
});

test('the SDK logs in with a login and password when it has no key', async () => {
  const withLogin = new OZMapSDK(url, { login: 'mapsync', password: 'secret' });
  await withLogin.apiInstance.login();
  const projects = await withLogin.project.findAll();
  assert.equal(projects.length, await serverTotal('project'));
});

test('findAll still ends after the network changed under a mutation', { timeout: 60_000 }, async () => {
  const res = await fetch(`${url}/__test/mutate?fraction=0.05&seed=3`, {
    method: 'POST',
    headers: { Authorization: API_KEY },
  });
  assert.equal(res.status, 200);
  const summary = await res.json();
  assert.ok(summary.changes > 0, JSON.stringify(summary));
  const total = await serverTotal('property');
  const rows = await sdk().property.findAll({ batchSize: 25 });
  assert.equal(rows.length, total);
  const schema = sdkModule.PropertySchema.omit({ client: true });
  for (const row of rows.filter((r) => !isInvalid(r))) {
    assert.ok(schema.safeParse(row).success, JSON.stringify(row));
  }
});
