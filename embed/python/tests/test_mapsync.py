"""The Python package against the project's OZmap test server: the
conformance suite on the memory store and on a store of the user's, and the
same network as the Rust host stores it, element by element."""

import json
import os
import subprocess
import tempfile
import unittest
import urllib.request
from pathlib import Path

import mapsync

ROOT = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
SECRETS = {"api_key": "test-api-key", "user": "mapsync", "password": "secret"}
CONFORMANCE = ROOT / "tests" / "conformance"


def binary(name):
    path = TARGET / "debug" / name
    if not path.exists():
        raise RuntimeError(f"no {path}: the Python tests use what `cargo test --workspace` builds")
    return str(path)


class Server:
    """The OZmap test server on a free port."""

    def __init__(self, *args):
        self.process = subprocess.Popen(
            [binary("ozmap-test-server"), "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, text=True)
        for line in self.process.stdout:
            if "listening on " in line:
                self.url = line.split("listening on ")[1].split()[0]
                break
        else:
            raise RuntimeError("the test server did not start")

    def put_network(self, network):
        asked = urllib.request.Request(
            f"{self.url}/__test/network", data=json.dumps(network).encode(), method="PUT",
            headers={"Authorization": SECRETS["api_key"], "Content-Type": "application/json"})
        urllib.request.urlopen(asked).read()

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()


class UserStore:
    """A store of the user's: the interface of `mapsync.memory_store`, kept
    in its own form (a journal of what a run staged, applied on commit)."""

    def __init__(self):
        self.rows = {}  # (kind, id) -> [data, fingerprint, removed, invalid]
        self.state = None

    def begin_run(self):
        return UserRun(self)

    def elements(self, kind):
        from mapsync._listing import listing

        def current(k):
            keys = sorted((i for (kk, i), r in self.rows.items() if kk == k and not r[2]), key=str.encode)
            return [{"data": self.rows[(k, i)][0], "invalid": self.rows[(k, i)][3]} for i in keys]

        return listing(kind, current)


class UserRun:
    def __init__(self, store):
        self.store, self.state, self.journal = store, store.state, {}

    def look_up(self, kind, ids):
        def stored(i):
            r = self.store.rows.get((kind, i))
            return None if r is None else (r[1], r[2])
        return [(stored(i), self.journal.get((kind, i), (None,))[0]) for i in ids]

    def stage_written(self, kind, elements, fingerprints, changes):
        for e, f, c in zip(elements, fingerprints, changes):
            self.journal[(kind, e["id"])] = (c, e, f, None)

    def stage_marks(self, kind, marks):
        for i, state, reason in marks:
            if (kind, i) not in self.store.rows:
                raise mapsync.StoreError(f"{i} is not stored")
            self.journal[(kind, i)] = (state, None, None, reason)

    def _held(self, kind):
        return [i for (k, i), r in self.store.rows.items() if k == kind and not r[2]]

    def held_count(self, kind):
        return len(self._held(kind))

    def _page(self, ids, after, limit):
        ids = sorted(set(ids), key=str.encode)
        return [i for i in ids if after is None or i.encode() > after.encode()][:limit]

    def held_ids(self, kind, after, limit):
        created = [i for (k, i), s in self.journal.items() if k == kind and s[0] == "created"]
        return self._page(self._held(kind) + created, after, limit)

    def unstaged_ids(self, kind, after, limit):
        return self._page([i for i in self._held(kind) if (kind, i) not in self.journal], after, limit)

    def commit(self, state):
        self.store.state = state
        for key, (c, e, f, reason) in self.journal.items():
            if c in ("created", "updated"):
                self.store.rows[key] = [e, f, False, None]
            elif c == "unchanged":
                self.store.rows[key][3] = None
            elif c == "invalid":
                self.store.rows[key][3] = reason
            elif c == "gone":
                self.store.rows[key][2] = True

    def roll_back(self):
        self.journal = {}


def holds(want, got, exact, at):
    """`got` holds what `want` says (see tests/conformance/README.md)."""
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{at}: {len(want)} expected, {got}"
        for i, (w, g) in enumerate(zip(want, got)):
            holds(w, g, exact, f"{at}[{i}]")
    elif isinstance(want, dict):
        assert isinstance(got, dict), f"{at}: an object expected, {got!r} found"
        for key, value in want.items():
            holds(value, got.get(key), exact, f"{at}.{key}")
        if exact:
            extra = [k for k in got if k not in want]
            assert not extra, f"{at}: {extra[0]} is not expected"
    else:
        assert got == want, f"{at}: {want!r} expected, {got!r} found"


class Conformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.mapsync_component = os.environ.get("MAPSYNC_COMPONENT")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def run_suite(self, make_store):
        files = sorted(CONFORMANCE.glob("*.json"))
        self.assertGreaterEqual(len(files), 7)
        for path in files:
            scenario = json.loads(path.read_text())
            with self.subTest(path.name):
                store = make_store()
                m = mapsync.Mapsync(self.server.url, store=store, component=self.mapsync_component, log=lambda *a: None)
                integration = scenario.get("integration", {})
                try:
                    for n, run in enumerate(scenario["runs"], start=1):
                        at = f"{path.name} run {n}"
                        self.server.put_network(run["platform"])
                        settings = run.get("settings", {})
                        asked = {
                            "api_url": self.server.url, **SECRETS,
                            "page_size": settings.get("page_size", 100),
                            "full": settings.get("full", False),
                            "allow_removals": settings.get("allow_removals", False),
                            "max_removal_percent": integration.get("max_removal_percent", 20),
                            "project_name": integration.get("project_name"),
                        }
                        expect = run["expect"]
                        report = None
                        try:
                            report = m.sync(asked)
                            error = None
                        except mapsync.MapsyncError as e:
                            error = e
                        if "error" in expect:
                            self.assertIsNotNone(error, f"{at}: an error expected")
                            self.assertIn(expect["error"], str(error), at)
                        else:
                            self.assertIsNone(error, f"{at}: {error}")
                        for kind, counts in expect.get("kinds", {}).items():
                            got = next((k for k in report["kinds"] if k["kind"] == kind), None)
                            holds(counts, got, False, f"{at}: {kind}")
                        for kind, want in expect.get("elements", {}).items():
                            holds(want, store.elements(kind), scenario.get("exact", False), f"{at}: the {kind} listing")
                finally:
                    m.close()

    def test_the_memory_store(self):
        self.run_suite(mapsync.MemoryStore)

    def test_a_store_of_the_users(self):
        self.run_suite(UserStore)


class AgainstTheRustHost(unittest.TestCase):
    def test_the_same_network_element_by_element_and_a_trap_changes_nothing(self):
        server = Server("--elements", "20000", "--seed", "7")
        try:
            with tempfile.TemporaryDirectory() as dir:
                db = os.path.join(dir, "mapsync.db")

                def rust(*args):
                    return subprocess.run([binary("mapsync"), "--db", db, *args], check=True,
                                          capture_output=True, text=True).stdout

                rust("integration", "add", "--name", "centro", "--api-url", server.url,
                     "--api-key", SECRETS["api_key"], "--user", SECRETS["user"], "--password", SECRETS["password"])
                rust("integration", "link", "--integration", "centro", "--new", "Centro")
                expected = json.loads(rust("sync", "--integration", "centro", "--json"))
                self.assertEqual(expected["status"], "succeeded")
                m = mapsync.Mapsync(server.url, component=os.environ.get("MAPSYNC_COMPONENT"), log=lambda *a: None)
                try:
                    report = m.sync({"api_url": server.url, **SECRETS})
                    for k in report["kinds"]:
                        want = expected["kinds"][k["kind"]]
                        self.assertEqual(
                            [k[c] for c in ("created", "updated", "unchanged", "removed", "invalid", "kept")],
                            [want[c] for c in ("created", "updated", "unchanged", "removed", "invalid", "kept")],
                            k["kind"])
                    for kind in mapsync.KINDS:
                        stored = json.loads(rust("elements", "--integration", "centro", "--kind", kind, "--json"))
                        self.assertGreater(len(stored), 0, kind)
                        self.assertEqual(m.store.elements(kind), stored, kind)
                finally:
                    m.close()

                # A store that fails with an exception (a bug, not an answer)
                # traps: the call fails, the store is as it was.
                class Broken(mapsync.MemoryStore):
                    def begin_run(self):
                        run = super().begin_run()

                        def stage_written(*args):
                            raise RuntimeError("disk on fire")
                        run.stage_written = stage_written
                        return run

                broken = Broken()
                m = mapsync.Mapsync(server.url, store=broken, component=os.environ.get("MAPSYNC_COMPONENT"), log=lambda *a: None)
                try:
                    with self.assertRaises(mapsync.MapsyncError) as told:
                        m.sync({"api_url": server.url, **SECRETS})
                    self.assertEqual(told.exception.kind, "trap")
                    self.assertEqual(broken.elements("project"), [])
                finally:
                    m.close()
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
