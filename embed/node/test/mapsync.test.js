// The Node package against the project's OZmap test server, compared with
// what the Rust host stores for the same network.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { KINDS, MapsyncError, MemoryStore, createMapsync, originOf } from '../src/index.js';
import { faultyProxy, mapsync, startServer, tempDir } from './support/helpers.js';

const SECRETS = { apiKey: 'test-api-key', user: 'mapsync', password: 'secret' };
const PAGE_SIZE = 100;

let server;
before(async () => {
  // Enough elements for several pages of every kind.
  server = await startServer(['--elements', '1500', '--seed', '7']);
});
after(() => server?.stop());

function settings(url, extra = {}) {
  return { apiUrl: url, ...SECRETS, pageSize: PAGE_SIZE, maxAttempts: 3, ...extra };
}

function counts(report) {
  return Object.fromEntries(
    report.kinds.map((k) => [k.kind, [k.created, k.updated, k.unchanged, k.removed, k.invalid]]),
  );
}

describe('a sync through the Node package', () => {
  test('stores the same network as the Rust host, element by element', async () => {
    const dir = tempDir();
    const db = join(dir, 'mapsync.db');
    mapsync(db, 'integration', 'add', '--name', 'centro', '--api-url', server.url,
      '--api-key', SECRETS.apiKey, '--user', SECRETS.user, '--password', SECRETS.password);
    mapsync(db, 'integration', 'link', '--integration', 'centro', '--new', 'Centro');
    const rust = JSON.parse(mapsync(db, 'sync', '--integration', 'centro', '--json', '--page-size', String(PAGE_SIZE)));
    assert.equal(rust.status, 'succeeded');

    const m = await createMapsync({ allowOrigin: server.url, log: () => {} });
    try {
      const report = await m.sync(settings(server.url));
      const rustCounts = Object.fromEntries(
        Object.entries(rust.kinds).map(([k, r]) => [k, [r.created, r.updated, r.unchanged, r.removed, r.invalid]]),
      );
      assert.deepEqual(counts(report), rustCounts);
      assert.equal(report.invalid.length, rust.invalid.length);
      for (const kind of KINDS) {
        const expected = JSON.parse(mapsync(db, 'elements', '--integration', 'centro', '--kind', kind, '--json'));
        const got = m.store.elements(kind);
        assert.ok(expected.length > 0, `the Rust host stored no ${kind}`);
        assert.equal(got.length, expected.length, `${kind}: how many`);
        for (let i = 0; i < expected.length; i++) {
          assert.deepStrictEqual(got[i], expected[i], `${kind} ${expected[i].id}`);
        }
      }
    } finally {
      await m.close();
    }
  });

  test('a re-sync reads what changed; a full one counts every element unchanged', async () => {
    const m = await createMapsync({ allowOrigin: server.url, log: () => {} });
    try {
      const first = await m.sync(settings(server.url));
      assert.equal(first.fullReason, 'first run');
      // The store kept the first run's state: the second reads what changed.
      const again = await m.sync(settings(server.url));
      assert.equal(again.fullReason, undefined);
      for (const k of again.kinds) {
        const before = first.kinds.find((f) => f.kind === k.kind);
        assert.deepEqual([k.created, k.updated, k.removed], [0, 0, 0], k.kind);
        assert.ok(k.unchanged <= before.created, k.kind);
      }
      const full = await m.sync({ ...settings(server.url), full: true });
      assert.equal(full.fullReason, 'a full sync was asked for');
      for (const k of full.kinds) {
        const before = first.kinds.find((f) => f.kind === k.kind);
        assert.deepEqual([k.created, k.updated, k.removed], [0, 0, 0], k.kind);
        assert.equal(k.unchanged, before.created, k.kind);
      }
    } finally {
      await m.close();
    }
  });

  test('another origin is refused with denied, and nothing is stored', async () => {
    const store = new MemoryStore();
    const m = await createMapsync({ store, allowOrigin: server.url, log: () => {} });
    try {
      for (const elsewhere of ['http://127.0.0.1:9', 'https://127.0.0.1:9', 'http://evil.example']) {
        await assert.rejects(m.sync(settings(elsewhere)), (e) => {
          assert.ok(e instanceof MapsyncError);
          assert.equal(e.kind, 'failed');
          assert.match(e.message, /denied by the host/);
          assert.doesNotMatch(e.message, /test-api-key|secret/);
          return true;
        });
      }
      assert.equal(store.elements('project').length, 0);
    } finally {
      await m.close();
    }
  });

  test('429 and 5xx answers are retried', async () => {
    const proxy = await faultyProxy(server.url, {
      '/api/v2/poles': [429, 503],
      '/api/v2/boxes': [500],
    });
    const m = await createMapsync({ allowOrigin: proxy.url, log: () => {} });
    try {
      const report = await m.sync(settings(proxy.url));
      assert.equal(report.retries, 3);
      assert.ok(m.store.elements('pole').length > 0);
      assert.ok(m.store.elements('box').length > 0);
    } finally {
      await m.close();
      proxy.stop();
    }
  });

  test('a trap is an error, the store is untouched, and the next call works', async () => {
    const store = new MemoryStore();
    // The component's memory outgrows 1 MiB at once.
    const small = await createMapsync({ store, allowOrigin: server.url, memoryBytes: 1 << 20, log: () => {} });
    try {
      await assert.rejects(small.sync(settings(server.url)), (e) => {
        assert.equal(e.kind, 'trap');
        assert.match(e.message, /more than 1 MiB of memory/);
        return true;
      });
      assert.equal(store.elements('project').length, 0);
    } finally {
      await small.close();
    }

    // A store that fails with an Error (a bug, not an answer) traps too.
    let failing = true;
    const broken = new MemoryStore();
    const begin = broken.beginRun.bind(broken);
    broken.beginRun = () => {
      const run = begin();
      const write = run.stageWritten.bind(run);
      run.stageWritten = (...args) => {
        if (failing) throw new Error('disk on fire');
        return write(...args);
      };
      return run;
    };
    const m = await createMapsync({ store: broken, allowOrigin: server.url, log: () => {} });
    try {
      await assert.rejects(m.sync(settings(server.url)), (e) => e.kind === 'trap' && /disk on fire/.test(e.message));
      assert.equal(broken.elements('project').length, 0);
      failing = false;
      const report = await m.sync(settings(server.url));
      assert.ok(report.kinds.every((k) => k.removed === 0));
      assert.ok(broken.elements('project').length > 0);
    } finally {
      await m.close();
    }
  });

  test('a binding is pushed once, and withdrawn', async () => {
    const m = await createMapsync({ allowOrigin: server.url, log: () => {} });
    try {
      await m.sync(settings(server.url));
      const splitter = m.store
        .elements('splitter')
        .find((s) => s.service && s.invalid === null && s.ports.some((p) => p.state === 'free'));
      const port = splitter.ports.find((p) => p.state === 'free').port;
      const binding = {
        project: splitter.project, box: splitter.box, splitter: splitter.id, port,
        customer: { code: 'SVC-NODE-1', name: 'Maria da Silva', pppoeLogin: 'maria' },
      };
      const pushed = await m.push(settings(server.url), binding);
      assert.equal(pushed.createdProperty, true);
      const again = await m.push(settings(server.url), binding);
      assert.deepEqual([again.client, again.property], [pushed.client, pushed.property]);
      assert.deepEqual(await m.withdraw(settings(server.url), 'SVC-NODE-1'), [pushed.property]);
      // Already gone counts as deleted.
      await m.deleteProperty(settings(server.url), pushed.property);
    } finally {
      await m.close();
    }
  });

  test('a customer the platform places is moved, not doubled', async () => {
    const m = await createMapsync({ allowOrigin: server.url, log: () => {} });
    try {
      await m.sync(settings(server.url));
      const splitter = m.store
        .elements('splitter')
        .find((s) => s.service && s.invalid === null && s.ports.filter((p) => p.state === 'free').length >= 2);
      const [from, to] = splitter.ports.filter((p) => p.state === 'free').map((p) => p.port);
      const at = (port) => ({
        project: splitter.project, box: splitter.box, splitter: splitter.id, port,
        customer: { code: 'SVC-NODE-2', name: 'João Souza' },
      });
      const pushed = await m.push(settings(server.url), at(from));
      const moved = await m.moveProperty(settings(server.url), at(to), pushed.property);
      assert.deepEqual([moved.client, moved.property], [pushed.client, pushed.property]);
      await m.sync(settings(server.url));
      const ports = m.store.elements('splitter').find((s) => s.id === splitter.id).ports;
      assert.equal(ports.find((p) => p.port === from).state, 'free');
      assert.equal(ports.find((p) => p.port === to).state, 'taken');
      await m.withdraw(settings(server.url), 'SVC-NODE-2');
    } finally {
      await m.close();
    }
  });

  test('matching identifies by code and suggests by the keys a person knows', async () => {
    const m = await createMapsync({ allowOrigin: server.url, log: () => {} });
    try {
      const services = [
        { id: 'SVC-1', name: 'Maria da Silva', document: '529.982.247-25' },
        { id: 'SVC-2', name: 'José Santos', pppoeLogin: 'jose.santos' },
      ];
      const clients = [
        { id: 'c1', code: 'SVC-1', name: 'Maria da Silva' },
        { id: 'c2', name: 'JOSE SANTOS', pppoeLogin: ' Jose.Santos ' },
      ];
      const identified = await m.identify(services, clients);
      assert.deepEqual(identified.identified.map((i) => [i.service, i.client]), [['SVC-1', 'c1']]);
      const suggested = await m.suggest(services, clients);
      assert.deepEqual(suggested.map((s) => [s.service, s.client]), [['SVC-2', 'c2']]);
      assert.ok(suggested[0].score >= 0.8 && suggested[0].reasons.length > 0);
      assert.deepEqual(await m.suggest(services, clients, { rejected: [['SVC-2', 'c2']] }), []);
    } finally {
      await m.close();
    }
  });

  test('check reaches, authenticates and reads', async () => {
    const m = await createMapsync({ allowOrigin: server.url, log: () => {} });
    try {
      const steps = await m.check(settings(server.url));
      assert.ok(steps.length >= 3, JSON.stringify(steps));
      assert.ok(steps.every((s) => s.ok), JSON.stringify(steps));
      const refused = await m.check(settings(server.url, { apiKey: 'wrong', password: 'wrong' }));
      assert.equal(refused.at(-1).ok, false);
    } finally {
      await m.close();
    }
  });
});

test('an origin is scheme, host and port, the default port made explicit', () => {
  assert.equal(originOf('https://a.example/api/v2'), 'https://a.example:443');
  assert.equal(originOf('https://a.example'), originOf('https://a.example:443'));
  assert.equal(originOf('http://a.example'), 'http://a.example:80');
  assert.notEqual(originOf('https://a.example'), originOf('http://a.example'));
  assert.equal(originOf('not a url'), null);
});
