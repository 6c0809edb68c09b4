// An in-memory element store that keeps the WIT `element-store` rules, and
// the interface a persistent store implements (see `MemoryStore`).
//
// Elements are kept in their stored form: the WIT's field names in snake
// case (`box`, `hierarchy_level`, `client_code`), absent options as null:
// the same JSON the Rust host keeps in SQLite.

export const KINDS = ['project', 'pole', 'box', 'splitter', 'client', 'property'];

/**
 * A store hands out one run at a time per integration. The run is what the
 * component reads and stages through; it holds bytes, never a sync rule
 * (those are the component's: wit/mapsync.wit, `element-store`). A
 * persistent store implements the same methods:
 *
 *   beginRun() -> run
 *   run.lookUp(kind, ids) -> for each id: { stored: { fingerprint (a BigInt
 *                or null), removed } or null, staged: the state this run
 *                staged ('created', 'updated', 'unchanged', 'invalid',
 *                'gone', 'seen') or null }
 *   run.stageWritten(kind, elements, fingerprints, changes)  (created or updated)
 *   run.stageMarks(kind, [{ id, staged, reason }])  (unchanged, invalid, gone, seen)
 *   run.heldCount(kind) -> held (stored, not removed) when the run began
 *   run.heldIds(kind, after, limit) -> held when it began, or staged created:
 *                ascending (byte order), after `after`, at most `limit`
 *   run.unstagedIds(kind, after, limit) -> held when it began, nothing
 *                staged: ascending, after `after`, at most `limit`
 *   run.state       (what the last applied run left for the next: a string or null)
 *   run.commit({ state })  (the call returned ok: apply what was staged,
 *                           and keep `state` for the next run, at once)
 *   run.rollBack()  (err or trap: discard everything)
 *
 * A method may throw a string (or an object with `payload`) to answer the
 * component an error; anything else thrown (an Error) traps the component
 * and the run is rolled back.
 */
export class MemoryStore {
  constructor() {
    /** kind -> id -> { name, data, fingerprint, removed, invalid } */
    this.kinds = new Map(KINDS.map((k) => [k, new Map()]));
    /** What the last applied run left for the next (its watermarks). */
    this.state = null;
  }

  beginRun() {
    return new MemoryRun(this);
  }

  /** Stored rows of a kind, removed ones included, by id. */
  rows(kind) {
    return this.kinds.get(kind);
  }

  /** Current elements of a kind, shaped as `mapsync elements --json`
   * prints them (ports with their state), in id order. */
  elements(kind) {
    if (!KINDS.includes(kind)) throw new Error(`unknown kind ${kind}`);
    const current = (k) =>
      [...this.kinds.get(k).entries()]
        .filter(([, row]) => !row.removed)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, row]) => row);
    const codes = new Map(current('client').map((r) => [r.data.id, r.data.code ?? null]));
    const codeOf = (p) =>
      p.client != null && codes.has(p.client) ? codes.get(p.client) : (p.client_code ?? null);
    const takers = new Map();
    if (kind === 'splitter') {
      // In id order: a port two properties name is the smaller id's.
      for (const { data: p } of current('property')) {
        const c = p.connection;
        const key = c && `${c.splitter}\u0000${c.port}`;
        if (c && !takers.has(key)) takers.set(key, { property: p.id, client_code: codeOf(p) });
      }
    }
    return current(kind).map(({ data: e, invalid }) => {
      const lat = e.position?.lat ?? null;
      const lng = e.position?.lng ?? null;
      let shown;
      switch (kind) {
        case 'project':
          shown = { identifier: e.identifier, lat, lng };
          break;
        case 'pole':
          shown = { lat, lng, pole_type: e.pole_type };
          break;
        case 'box':
          shown = {
            project: e.project, pole: e.pole, lat, lng, hierarchy_level: e.hierarchy_level,
            implanted: e.implanted, box_type: e.box_type,
          };
          break;
        case 'client':
          shown = {
            code: e.code, implanted: e.implanted, status: e.status, pppoe_login: e.pppoe_login,
            onu_serial: e.onu_serial, onu_mac: e.onu_mac,
          };
          break;
        case 'splitter':
          shown = {
            project: e.project, box: e.box, service: e.service,
            ratio: `${e.ratio_input}x${e.ratio_output}`,
            ports: e.ports.map((p) => {
              const t = takers.get(`${e.id}\u0000${p.number}`);
              if (t) return { port: p.number, state: 'taken', ...t };
              return { port: p.number, state: p.blocked ? 'blocked' : 'free', property: null, client_code: null };
            }),
          };
          break;
        case 'property':
          shown = {
            project: e.project, box: e.box, splitter: e.connection?.splitter ?? null,
            port: e.connection?.port ?? null, client: e.client, client_code: codeOf(e), lat, lng,
            address: e.address,
          };
          break;
      }
      return { id: e.id, kind, name: e.name, ...shown, invalid: invalid ?? null };
    });
  }
}

class MemoryRun {
  constructor(store) {
    this.store = store;
    /** kind -> id -> { change, name, data, fingerprint, reason } */
    this.staged = new Map(KINDS.map((k) => [k, new Map()]));
    this.state = store.state;
  }

  lookUp(kind, ids) {
    const stored = this.store.kinds.get(kind);
    const staged = this.staged.get(kind);
    return ids.map((id) => {
      const row = stored.get(id);
      return {
        stored: row ? { fingerprint: row.fingerprint, removed: row.removed } : null,
        staged: staged.get(id)?.change ?? null,
      };
    });
  }

  stageWritten(kind, elements, fingerprints, changes) {
    if (elements.length !== fingerprints.length || elements.length !== changes.length) {
      throw `the batch holds ${elements.length} elements but ${fingerprints.length} fingerprints and ${changes.length} states`;
    }
    elements.forEach((data, i) => {
      const fingerprint = BigInt(fingerprints[i]);
      this.staged.get(kind).set(data.id, { change: changes[i], name: data.name, data, fingerprint });
    });
  }

  stageMarks(kind, marks) {
    const stored = this.store.kinds.get(kind);
    for (const { id, staged, reason } of marks) {
      if (!stored.has(id)) throw `${kind} ${id} is not stored: it cannot be marked ${staged}`;
      this.staged.get(kind).set(id, { change: staged, reason });
    }
  }

  held(kind) {
    return [...this.store.kinds.get(kind)].filter(([, row]) => !row.removed).map(([id]) => id);
  }

  heldCount(kind) {
    return this.held(kind).length;
  }

  heldIds(kind, after, limit) {
    const created = [...this.staged.get(kind)].filter(([, s]) => s.change === 'created').map(([id]) => id);
    return page([...new Set([...this.held(kind), ...created])], after, limit);
  }

  unstagedIds(kind, after, limit) {
    const staged = this.staged.get(kind);
    return page(this.held(kind).filter((id) => !staged.has(id)), after, limit);
  }

  commit({ state } = {}) {
    if (state !== undefined) this.store.state = state;
    for (const kind of KINDS) {
      const stored = this.store.kinds.get(kind);
      for (const [id, s] of this.staged.get(kind)) {
        const row = stored.get(id);
        if (s.change === 'created' || s.change === 'updated') {
          stored.set(id, { name: s.name, data: s.data, fingerprint: s.fingerprint, removed: false, invalid: null });
        } else if (s.change === 'unchanged') row.invalid = null;
        else if (s.change === 'invalid') row.invalid = s.reason;
        else if (s.change === 'gone') row.removed = true;
      }
    }
  }

  rollBack() {}
}

/** Ids in byte order (as the component compares them), after `after`, at most `limit`. */
function page(ids, after, limit) {
  const bytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  return ids
    .filter((id) => after === undefined || after === null || bytes(id, after) > 0)
    .sort(bytes)
    .slice(0, limit);
}
