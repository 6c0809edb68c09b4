"""An in-memory element store, and the interface a store of yours implements.

A store hands out one run at a time. The run is what the component reads and
stages through: it holds bytes, never a sync rule (those are the component's:
the WIT's ``element-store``). A store of yours implements the same methods:

    begin_run() -> run
    run.state                                  the last applied run's state, or None
    run.look_up(kind, ids) -> [(stored, staged)]   stored: (fingerprint or None, removed)
                                               or None; staged: the state this run staged
                                               ('created', 'updated', 'unchanged',
                                               'invalid', 'gone', 'seen') or None
    run.stage_written(kind, elements, fingerprints, changes)   created or updated
    run.stage_marks(kind, [(id, staged, reason)])   unchanged, invalid, gone or seen
    run.held_count(kind) -> held (stored, not removed) when the run began
    run.held_ids(kind, after, limit) -> held when it began or staged created, ascending
    run.unstaged_ids(kind, after, limit) -> held when it began, nothing staged, ascending
    run.commit(state)                          the call returned ok: apply, keep `state`
    run.roll_back()                            err or trap: discard

Elements come in their stored form: dicts under the WIT's field names in snake
case, absent options as None, as the Rust host keeps them. A method may raise
``StoreError`` to answer the component an error; any other exception traps the
component, and the run is rolled back.
"""

KINDS = ("project", "pole", "box", "splitter", "client", "property")


class StoreError(Exception):
    """A store's refusal, answered to the component as an error."""


def _page(ids, after, limit):
    ids = sorted(set(ids), key=lambda i: i.encode())
    if after is not None:
        ids = [i for i in ids if i.encode() > after.encode()]
    return ids[:limit]


class MemoryStore:
    def __init__(self):
        # kind -> id -> dict(data, fingerprint, removed, invalid)
        self.kinds = {k: {} for k in KINDS}
        self.state = None

    def begin_run(self):
        return MemoryRun(self)

    def elements(self, kind):
        """The stored (not removed) elements of `kind`, in id order, as
        ``mapsync elements --json`` prints them."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind}")
        from ._listing import listing

        def current(k):
            rows = [(i, r) for i, r in self.kinds[k].items() if not r["removed"]]
            return [r for _, r in sorted(rows, key=lambda x: x[0].encode())]

        return listing(kind, current)


class MemoryRun:
    def __init__(self, store):
        self.store = store
        self.staged = {k: {} for k in KINDS}  # kind -> id -> (state, data, fingerprint, reason)
        self.state = store.state

    def look_up(self, kind, ids):
        stored, staged = self.store.kinds[kind], self.staged[kind]
        out = []
        for i in ids:
            row = stored.get(i)
            mark = staged.get(i)
            out.append(((row["fingerprint"], row["removed"]) if row else None, mark[0] if mark else None))
        return out

    def stage_written(self, kind, elements, fingerprints, changes):
        if not len(elements) == len(fingerprints) == len(changes):
            raise StoreError("a batch, its fingerprints and its states differ in length")
        for data, fingerprint, change in zip(elements, fingerprints, changes):
            self.staged[kind][data["id"]] = (change, data, fingerprint, None)

    def stage_marks(self, kind, marks):
        for i, state, reason in marks:
            if i not in self.store.kinds[kind]:
                raise StoreError(f"{kind} {i} is not stored: it cannot be marked {state}")
            self.staged[kind][i] = (state, None, None, reason)

    def _held(self, kind):
        return [i for i, r in self.store.kinds[kind].items() if not r["removed"]]

    def held_count(self, kind):
        return len(self._held(kind))

    def held_ids(self, kind, after, limit):
        created = [i for i, s in self.staged[kind].items() if s[0] == "created"]
        return _page(self._held(kind) + created, after, limit)

    def unstaged_ids(self, kind, after, limit):
        return _page([i for i in self._held(kind) if i not in self.staged[kind]], after, limit)

    def commit(self, state):
        self.store.state = state
        for kind in KINDS:
            stored = self.store.kinds[kind]
            for i, (change, data, fingerprint, reason) in self.staged[kind].items():
                if change in ("created", "updated"):
                    stored[i] = {"data": data, "fingerprint": fingerprint, "removed": False, "invalid": None}
                elif change == "unchanged":
                    stored[i]["invalid"] = None
                elif change == "invalid":
                    stored[i]["invalid"] = reason
                elif change == "gone":
                    stored[i]["removed"] = True

    def roll_back(self):
        pass
