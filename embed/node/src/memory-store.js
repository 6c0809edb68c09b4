// An in-memory element store that keeps the WIT `element-store` rules, and
// the interface a persistent store implements (see `MemoryStore`).
//
// Elements are kept in their stored form: the WIT's field names in snake
// case (`box`, `hierarchy_level`, `client_code`), absent options as null:
// the same JSON the Rust host keeps in SQLite.

export const KINDS = ['project', 'pole', 'box', 'splitter', 'client', 'property'];

/**
 * A store hands out one run at a time per integration. The run is what the
 * component writes to; a persistent store implements the same methods:
 *
 *   beginRun() -> run
 *   run.writeBatch(kind, elements, fingerprints) -> { created, updated, unchanged }
 *   run.keepInvalid(kind, [{ id, reason }]) -> number kept
 *   run.completeKind(kind) -> { removed, stored }
 *   run.seen(kind, ids) -> the ids this run has seen
 *   run.tally(kind) -> stored (not removed) elements plus those this run created
 *   run.markSeen(kind, ids) -> stored ones count as seen; answers the ids
 *                              neither stored nor seen
 *   run.known(kind, ids) -> the ids held once the run is applied
 *   run.storedIds(kind, after, limit) -> held ids after `after`, ascending (byte order)
 *   run.markGone(kind, ids) -> stored ones are removed at commit; answers how many
 *   run.state       (what the last applied run left for the next: a string or null)
 *   run.commit({ state })  (the call returned ok: apply everything, and
 *                           keep `state` for the next run, at once)
 *   run.rollBack()  (err or trap: discard everything)
 *
 * Rules (wit/mapsync.wit, `element-store`): an element is created when it
 * is not stored or stored as removed; updated when its stored fingerprint
 * (a BigInt) differs; unchanged otherwise. Nothing is visible before
 * `commit`. `completeKind` marks removed, at commit, every stored element
 * of the kind the run did not see. A method may throw a string (or an
 * object with `payload`) to answer the component an error; anything else
 * thrown (an Error) traps the component and the run is rolled back.
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
    this.completed = new Set();
    this.state = store.state;
  }

  writeBatch(kind, elements, fingerprints) {
    if (elements.length !== fingerprints.length) {
      throw `the batch holds ${elements.length} elements but ${fingerprints.length} fingerprints`;
    }
    const stored = this.store.kinds.get(kind);
    const outcome = { created: 0, updated: 0, unchanged: 0 };
    // The same element twice in a batch: its last version counts, once.
    const last = new Map(elements.map((data, i) => [data.id, i]));
    elements.forEach((data, i) => {
      if (last.get(data.id) !== i) return;
      const fingerprint = BigInt(fingerprints[i]);
      const before = stored.get(data.id);
      let change;
      if (!before || before.removed) change = 'created';
      else if (before.fingerprint === fingerprint) change = 'unchanged';
      else change = 'updated';
      outcome[change] += 1;
      this.staged.get(kind).set(data.id, { change, name: data.name, data, fingerprint });
    });
    return outcome;
  }

  keepInvalid(kind, elements) {
    const stored = this.store.kinds.get(kind);
    let kept = 0;
    for (const { id, reason } of elements) {
      const row = stored.get(id);
      if (row && !row.removed) {
        this.staged.get(kind).set(id, { change: 'invalid', reason });
        kept += 1;
      }
    }
    return kept;
  }

  completeKind(kind) {
    this.completed.add(kind);
    const staged = this.staged.get(kind);
    let stored = 0;
    let removed = 0;
    for (const [id, row] of this.store.kinds.get(kind)) {
      if (row.removed) continue;
      stored += 1;
      if (!staged.has(id)) removed += 1;
    }
    return { removed, stored };
  }

  seen(kind, ids) {
    const staged = this.staged.get(kind);
    return ids.filter((id) => staged.has(id));
  }

  tally(kind) {
    let held = 0;
    for (const row of this.store.kinds.get(kind).values()) if (!row.removed) held += 1;
    for (const s of this.staged.get(kind).values()) if (s.change === 'created') held += 1;
    return held;
  }

  markSeen(kind, ids) {
    const stored = this.store.kinds.get(kind);
    const staged = this.staged.get(kind);
    const missing = [];
    for (const id of ids) {
      if (staged.has(id)) continue;
      const row = stored.get(id);
      if (row && !row.removed) staged.set(id, { change: 'seen' });
      else missing.push(id);
    }
    return missing;
  }

  storedIds(kind, after, limit) {
    const held = new Set();
    for (const [id, row] of this.store.kinds.get(kind)) if (!row.removed) held.add(id);
    for (const [id, s] of this.staged.get(kind)) if (s.change !== 'seen' && s.change !== 'gone') held.add(id);
    // Byte order, as the component compares ids.
    const bytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    return [...held]
      .filter((id) => after === undefined || after === null || bytes(id, after) > 0)
      .sort(bytes)
      .slice(0, limit);
  }

  markGone(kind, ids) {
    const stored = this.store.kinds.get(kind);
    const staged = this.staged.get(kind);
    let gone = 0;
    for (const id of ids) {
      const row = stored.get(id);
      if (!row || row.removed || staged.has(id)) continue;
      staged.set(id, { change: 'gone' });
      gone += 1;
    }
    return gone;
  }

  known(kind, ids) {
    const stored = this.store.kinds.get(kind);
    const staged = this.staged.get(kind);
    // Gone is not known: it is removed when the run is applied.
    const held = (id) => !this.completed.has(kind) && stored.has(id) && !stored.get(id).removed;
    return ids.filter((id) => (staged.has(id) ? staged.get(id).change !== 'gone' : held(id)));
  }

  commit({ state } = {}) {
    if (state !== undefined) this.store.state = state;
    for (const kind of KINDS) {
      const stored = this.store.kinds.get(kind);
      const staged = this.staged.get(kind);
      for (const [id, s] of staged) {
        const row = stored.get(id);
        if (s.change === 'created' || s.change === 'updated') {
          stored.set(id, { name: s.name, data: s.data, fingerprint: s.fingerprint, removed: false, invalid: null });
        } else if (s.change === 'unchanged') {
          row.invalid = null;
        } else if (s.change === 'invalid') {
          row.invalid = s.reason;
        } else if (s.change === 'gone') {
          row.removed = true;
        }
      }
      if (this.completed.has(kind)) {
        for (const [id, row] of stored) {
          if (!row.removed && !staged.has(id)) row.removed = true;
        }
      }
    }
  }

  rollBack() {}
}
