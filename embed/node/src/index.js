// Runs the mapsync component (mapsync:integration@0.9.0) on Node.
//
// The component imports only mapsync's interfaces (log, clock, http-fetch,
// element-store), all served here: no WASI shim, so it sees no environment,
// files or process. Each call gets a fresh instance, bounded in memory and
// time; a trap ends only that call.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlockingFetcher } from './fetch.js';
import { KINDS, MemoryStore } from './memory-store.js';
import { originOf } from './origin.js';

export { MemoryStore, KINDS, originOf };

const GEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'gen');
const PACKAGE = 'mapsync:integration';
const VERSION = '0.9.0';

/** How this Node blocks on an import: JSPI where it exists (Node 24), else
 * a worker and Atomics.wait. Only the latter is wired up for now; JSPI is
 * detected so an embedder can tell. */
export const jspiAvailable = typeof WebAssembly.Suspending === 'function';

let generated;
/** jco's output, compiled once per process. */
function load() {
  if (!generated) {
    generated = import(join(GEN, 'mapsync.js')).then((bindings) => {
      const modules = new Map();
      const getCoreModule = (name) => {
        if (!modules.has(name)) modules.set(name, new WebAssembly.Module(readFileSync(join(GEN, name))));
        return modules.get(name);
      };
      return { instantiate: bindings.instantiate, getCoreModule };
    });
  }
  return generated;
}

/** A fault of the host side (a bound exceeded): thrown as an Error from an
 * import, which traps the component. */
class Bound extends Error {}

/** A WIT record from jco (camelCase, absent options undefined) in its
 * stored form: snake case, absent options null. */
export function storedForm(value) {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.map(storedForm);
  if (typeof value !== 'object') return value;
  const out = {};
  for (const [key, v] of Object.entries(value)) {
    out[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = storedForm(v);
  }
  return out;
}

function settingsToWit(s) {
  return {
    apiUrl: s.apiUrl,
    apiKey: s.apiKey ?? '',
    user: s.user ?? '',
    password: s.password ?? '',
    projectName: s.projectName ?? undefined,
    pageSize: s.pageSize ?? 0,
    maxAttempts: s.maxAttempts ?? 0,
    timeoutMs: s.timeoutMs ?? 0,
    pagesInFlight: s.pagesInFlight ?? 0,
    requestsPerSecond: s.requestsPerSecond ?? 0,
    switchedOff: s.switchedOff ?? [],
    maxRemovalPercent: s.maxRemovalPercent ?? 20,
    allowRemovals: s.allowRemovals ?? false,
    state: s.state ?? undefined,
    full: s.full ?? false,
    fullEveryHours: s.fullEveryHours ?? 0,
  };
}

/** The error a component's `err` becomes: `kind` is the variant's tag. */
export class MapsyncError extends Error {
  constructor(message, kind, detail) {
    super(message);
    this.kind = kind;
    this.detail = detail;
  }
}

/**
 * createMapsync({ store, allowOrigin, fetchTimeoutMs, memoryBytes, timeMs, log })
 *
 * - store: a MemoryStore or a store of yours with the same interface.
 * - allowOrigin: the platform's URL (e.g. the integration's api-url); the
 *   component may reach that origin and no other (others: `denied`).
 * - fetchTimeoutMs: the most any one request may take (default 60 s).
 * - memoryBytes: the component's memory bound (default 512 MiB).
 * - timeMs: each call's time bound (default 4 h).
 * - log(level, message, fields): the component's log lines (default:
 *   warn and error to stderr). Lines never carry a secret.
 */
export async function createMapsync(options) {
  const {
    store = new MemoryStore(),
    allowOrigin,
    fetchTimeoutMs = 60_000,
    memoryBytes = 512 << 20,
    timeMs = 4 * 3600_000,
    log = (level, message, fields) => {
      if (level === 'warn' || level === 'error') {
        const extra = fields.map(([k, v]) => `${k}=${v}`).join(' ');
        console.error(`mapsync ${level}: ${message}${extra ? ` (${extra})` : ''}`);
      }
    },
  } = options ?? {};
  const allowed = originOf(allowOrigin ?? '');
  if (!allowed) throw new Error(`allowOrigin ${JSON.stringify(allowOrigin)} is not an http(s) URL with a host`);
  const { instantiate, getCoreModule } = await load();
  const fetcher = new BlockingFetcher();

  /** One call in a fresh instance. `run` is the element-store run, if any. */
  function call(fn, run) {
    const deadline = Date.now() + timeMs;
    let memory;
    let lastError = null;
    // Bounds are checked whenever the component calls the host.
    const guard = () => {
      if (memory && memory.buffer.byteLength > memoryBytes) {
        throw new Bound(`the component needed more than ${memoryBytes >> 20} MiB of memory and was stopped`);
      }
      if (Date.now() > deadline) throw new Bound(`the component ran longer than its limit of ${timeMs} ms and was stopped`);
    };
    // A request's bound: its own, within the fetcher's and the call's.
    const bound = (request) =>
      Math.max(1, Math.min(request.timeoutMs || fetchTimeoutMs, fetchTimeoutMs, deadline - Date.now()));
    // A result's err: jco takes a thrown non-Error as the err value.
    const settle = (answer) => {
      if (answer.err) throw answer.err;
      return answer.ok;
    };
    /** A request `start`ed (the WIT resource `pending`). */
    class Pending {
      constructor(id) {
        this.id = id;
        this.done = false;
      }
      finish() {
        guard();
        if (this.done) throw { tag: 'other', val: "this request's answer was already taken" };
        this.done = true;
        return settle(fetcher.finish(this.id));
      }
      ready() {
        guard();
        return this.done || fetcher.ready(this.id);
      }
      // Dropped by the component: the request is abandoned.
      [Symbol.dispose ?? Symbol.for('dispose')]() {
        fetcher.abandon(this.id);
      }
    }
    const storeCall = (f) => (...args) => {
      guard();
      if (!run) throw 'no element store is open for this call';
      return f(...args);
    };
    const imports = {
      log: {
        log(level, message, fields) {
          guard();
          if (level === 'error') lastError = message;
          log(level, message, fields);
        },
      },
      clock: {
        sleep(ms) {
          guard();
          const wait = Math.max(0, Math.min(ms, deadline - Date.now()));
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
        },
        nowMs() {
          guard();
          return BigInt(Date.now());
        },
      },
      'http-fetch': {
        fetch(request) {
          guard();
          return settle(fetcher.fetch(request, allowed, bound(request)));
        },
        start(request) {
          guard();
          return new Pending(fetcher.start(request, allowed, bound(request)));
        },
        Pending,
      },
      'element-store': {
        lookUp: storeCall((kind, ids) => {
          const found = run.lookUp(kind, ids);
          const presence = found.map(({ stored }) =>
            !stored ? 'absent' : stored.removed ? 'removed' : stored.fingerprint == null ? 'held-unfingerprinted' : 'held');
          const fingerprints = BigUint64Array.from(found, ({ stored }) =>
            stored && !stored.removed && stored.fingerprint != null ? BigInt(stored.fingerprint) : 0n);
          return { presence, fingerprints, staged: found.map(({ staged }) => staged ?? 'nothing') };
        }),
        // The component gives each element's stored form as JSON.
        stageWritten: storeCall((kind, w) =>
          run.stageWritten(kind, w.data.map((d) => JSON.parse(d)), [...w.fingerprints], [...w.changes]),
        ),
        stageMarks: storeCall((kind, marks) =>
          run.stageMarks(kind, marks.map((m) => ({ id: m.id, staged: m.staged, reason: m.reason ?? null }))),
        ),
        heldCount: storeCall((kind) => run.heldCount(kind)),
        heldIds: storeCall((kind, after, limit) => run.heldIds(kind, after ?? null, limit)),
        unstagedIds: storeCall((kind, after, limit) => run.unstagedIds(kind, after ?? null, limit)),
      },
      types: {},
    };
    // jco's code looks imports up by unversioned name; the versioned names
    // are given too, for a jco that uses them.
    const named = {};
    for (const [name, value] of Object.entries(imports)) {
      named[`${PACKAGE}/${name}`] = value;
      named[`${PACKAGE}/${name}@${VERSION}`] = value;
    }
    try {
      const instance = instantiate(getCoreModule, named, (module, importObject) => {
        const made = new WebAssembly.Instance(module, importObject);
        if (made.exports.memory instanceof WebAssembly.Memory) memory ??= made.exports.memory;
        return made;
      });
      return fn(instance);
    } catch (e) {
      if (e?.constructor?.name === 'ComponentError' || e instanceof MapsyncError) throw e;
      const why = e instanceof Bound ? e.message : `the sync component failed: ${lastError ?? e?.message ?? e}`;
      throw new MapsyncError(why, 'trap', e);
    }
  }

  /** An export's `err`, as jco throws it, into a MapsyncError. */
  function unwrap(fn) {
    try {
      return fn();
    } catch (e) {
      if (e?.constructor?.name !== 'ComponentError') throw e;
      const payload = e.payload;
      const message =
        typeof payload?.val === 'string' ? payload.val : (payload?.val?.message ?? JSON.stringify(payload));
      throw new MapsyncError(message, payload?.tag ?? 'failed', payload?.val);
    }
  }

  return {
    jspiAvailable,
    blocking: 'worker-atomics',
    store,

    /** Synchronise: resolves the report, or rejects with a MapsyncError
     * (`kind` 'failed', 'removals-held' or 'trap'); on rejection the store
     * is as it was. */
    async sync(settings) {
      const run = store.beginRun();
      try {
        // Only what changed since the run the store kept last is read.
        const state = settings.state ?? run.state ?? undefined;
        const report = unwrap(() => call((i) => i.sync.run(settingsToWit({ ...settings, state })), run));
        await run.commit({ state: report.state });
        return report;
      } catch (e) {
        await run.rollBack();
        throw e;
      }
    },

    /** Check the settings: the steps, in order, stopping at the first failed. */
    async check(settings) {
      return call((i) => i.sync.check(settingsToWit(settings)));
    },

    /** Push a confirmed binding's informative data (see the WIT `binding`). */
    async push(settings, binding) {
      return unwrap(() => call((i) => i.binding.push(settingsToWit(settings), binding)));
    },

    /** Push to a client the platform holds without its code (an accepted match). */
    async pushToClient(settings, binding, client) {
      return unwrap(() => call((i) => i.binding.pushToClient(settingsToWit(settings), binding, client)));
    },

    /** Move a customer the platform already places: its `property` is
     * reconnected to the binding's port; nothing is created. `client` is a
     * matched client without code, or undefined. */
    async moveProperty(settings, binding, property, client) {
      return unwrap(() =>
        call((i) => i.binding.moveProperty(settingsToWit(settings), binding, property, client)),
      );
    },

    /** Identify platform clients by code (see the WIT `matching`); reaches nothing. */
    async identify(services, clients) {
      return call((i) => i.matching.identify(services, clients));
    },

    /** Suggest matches scoring at least `minScore` (0.8 by default), leaving
     * out `rejected` [service, client] pairs. */
    async suggest(services, clients, { rejected = [], minScore = 0.8 } = {}) {
      return call((i) => i.matching.suggest(services, clients, rejected, minScore));
    },

    async deleteProperty(settings, property) {
      return unwrap(() => call((i) => i.binding.deleteProperty(settingsToWit(settings), property)));
    },

    async withdraw(settings, code) {
      return unwrap(() => call((i) => i.binding.withdraw(settingsToWit(settings), code)));
    },

    /** Stop the fetch worker. */
    close() {
      return fetcher.close();
    },
  };
}
