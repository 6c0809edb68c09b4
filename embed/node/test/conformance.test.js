// The host conformance suite (tests/conformance, data) run by the Node
// package on its memory store: the same scenarios the Rust host runs
// (tests/e2e/conformance.rs), with the same expectations.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMapsync } from '../src/index.js';
import { ROOT, startServer } from './support/helpers.js';

const SECRETS = { apiKey: 'test-api-key', user: 'mapsync', password: 'secret' };
const DIR = join(ROOT, 'tests', 'conformance');

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** Whether `got` holds what `want` says: every field `want` names, with the
 * same value (objects the same way, arrays element by element and of the
 * same length); with `exact`, nothing more either. Throws naming where. */
function holds(want, got, exact, at) {
  got = got === undefined ? null : got;
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${at}: an array expected, ${JSON.stringify(got)} found`);
    assert.equal(got.length, want.length, `${at}: ${want.length} expected, ${got.length} found: ${JSON.stringify(got)}`);
    want.forEach((w, i) => holds(w, got[i], exact, `${at}[${i}]`));
  } else if (want !== null && typeof want === 'object') {
    assert.ok(got !== null && typeof got === 'object', `${at}: an object expected, ${JSON.stringify(got)} found`);
    for (const [key, value] of Object.entries(want)) holds(value, got[key], exact, `${at}.${key}`);
    if (exact) {
      const extra = Object.keys(got).find((k) => !(k in want));
      assert.equal(extra, undefined, `${at}: ${extra} is not expected`);
    }
  } else {
    assert.deepStrictEqual(got, want, `${at}: ${JSON.stringify(want)} expected, ${JSON.stringify(got)} found`);
  }
}

async function platform(network) {
  const answer = await fetch(`${server.url}/__test/network`, {
    method: 'PUT',
    headers: { Authorization: SECRETS.apiKey, 'Content-Type': 'application/json' },
    body: JSON.stringify(network),
  });
  assert.equal(answer.status, 200, await answer.text());
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

describe('the host conformance suite on the memory store', () => {
  test('finds the scenarios', () => assert.ok(files.length >= 7, `scenarios missing in ${DIR}`));
  for (const file of files) {
    const scenario = JSON.parse(readFileSync(join(DIR, file), 'utf8'));
    test(`${file}: ${scenario.scenario}`, async () => {
      const m = await createMapsync({ allowOrigin: server.url, log: () => {} });
      try {
        const integration = scenario.integration ?? {};
        for (const [n, run] of scenario.runs.entries()) {
          const at = `run ${n + 1}`;
          await platform(run.platform);
          const settings = run.settings ?? {};
          const asked = {
            apiUrl: server.url,
            ...SECRETS,
            pageSize: settings.page_size ?? 100,
            full: settings.full ?? false,
            allowRemovals: settings.allow_removals ?? false,
            maxRemovalPercent: integration.max_removal_percent ?? 20,
            projectName: integration.project_name ?? undefined,
          };
          let report = null;
          let error = null;
          try {
            report = await m.sync(asked);
          } catch (e) {
            error = e;
          }
          const expect = run.expect;
          if (expect.error) {
            assert.ok(error && error.message.includes(expect.error), `${at}: an error with ${JSON.stringify(expect.error)} expected: ${error ?? JSON.stringify(report)}`);
          } else {
            assert.equal(error, null, `${at}: the sync failed: ${error}`);
          }
          for (const [kind, counts] of Object.entries(expect.kinds ?? {})) {
            const got = report?.kinds.find((k) => k.kind === kind) ?? null;
            holds(counts, got, false, `${at}: ${kind}`);
          }
          for (const [kind, want] of Object.entries(expect.elements ?? {})) {
            holds(want, m.store.elements(kind), scenario.exact ?? false, `${at}: the ${kind} listing`);
          }
        }
      } finally {
        await m.close();
      }
    });
  }
});
