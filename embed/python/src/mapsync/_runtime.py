"""The component on wasmtime-py: its imports (log, clock, http-fetch,
element-store) and its exports, one fresh instance a call."""

import http.client
import itertools
import json
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from importlib import resources

import wasmtime
from wasmtime import component as wc

from .memory_store import MemoryStore, StoreError

PACKAGE = "mapsync:integration"
VERSION = "0.9.0"
LOG = logging.getLogger("mapsync")
# Each call's bounds, as the Rust host sets them.
MEMORY_BYTES = 512 << 20
TIME_S = 4 * 3600


class MapsyncError(Exception):
    """A component's `err` (`kind` its tag: 'failed', 'removals-held', ...) or
    a trap (`kind` 'trap'); the store is unchanged."""

    def __init__(self, kind, message, detail=None):
        super().__init__(message)
        self.kind = kind
        self.detail = detail


def _record(fields):
    """A WIT record from a dict of its fields under their WIT names."""
    r = wc.Record()
    for name, value in fields.items():
        setattr(r, name, value)
    return r


def stored_form(value):
    """A WIT value as plain data: records as dicts under their field names in
    snake case, absent options as None (the form a store keeps)."""
    if isinstance(value, wc.Record):
        return {k.replace("-", "_"): stored_form(v) for k, v in vars(value).items()}
    if isinstance(value, (list, tuple)):
        return [stored_form(v) for v in value]
    if isinstance(value, wc.Variant):
        return {"tag": value.tag, "payload": stored_form(value.payload)}
    return value


def origin_of(url):
    """`scheme://host:port` with the scheme's default port made explicit."""
    u = urllib.parse.urlsplit(url)
    if not u.hostname:
        return None
    port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    return f"{u.scheme}://{u.hostname}:{port}"


class _Http:
    """Blocking HTTP to one origin, keeping its connection between requests;
    never follows a redirect."""

    def __init__(self, allow_origin):
        self.allowed = origin_of(allow_origin)
        self.conn = None

    def _connect(self, u, timeout):
        if u.scheme == "https":
            return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)

    def fetch(self, request):
        url = request.url
        if origin_of(url) != self.allowed:
            return wc.Variant("denied", f"{origin_of(url)} is not the integration's origin ({self.allowed})")
        u = urllib.parse.urlsplit(url)
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        headers = dict(request.headers)
        body = request.body.encode() if request.body is not None else None
        timeout = max(request.__dict__["timeout-ms"], 1) / 1000
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = self._connect(u, timeout)
            self.conn.timeout = timeout
            try:
                self.conn.request(request.method.upper(), path, body=body, headers=headers)
                answer = self.conn.getresponse()
                data = answer.read()
                if answer.will_close:
                    self._close()
                return _record({
                    "status": answer.status,
                    "headers": [(k, v) for k, v in answer.getheaders()],
                    "body": data.decode("utf-8", "replace"),
                })
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self._close()
                # A kept connection the server closed meanwhile: once more.
                if reused and attempt == 1:
                    continue
                return wc.Variant("connection-reset")
            except socket.timeout:
                self._close()
                return wc.Variant("timeout")
            except ConnectionRefusedError:
                self._close()
                return wc.Variant("connection-refused")
            except ssl.SSLError as e:
                self._close()
                return wc.Variant("tls", str(e))
            except (OSError, http.client.HTTPException) as e:
                self._close()
                return wc.Variant("other", str(e))

    def _close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


class Mapsync:
    """The component, compiled once; every call a fresh, bounded instance.

    `store`: a MemoryStore (the default) or a store of yours (see
    `mapsync.memory_store`). `allow_origin`: the one origin the component may
    reach. `log`: called with (level, message, fields); Python's logging by
    default.
    """

    def __init__(self, allow_origin, store=None, log=None, component=None):
        config = wasmtime.Config()
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        path = component or str(resources.files("mapsync").joinpath("mapsync.wasm"))
        self.component = wc.Component.from_file(self.engine, path)
        self.store = store if store is not None else MemoryStore()
        self.allow_origin = allow_origin
        self.log = log or (lambda level, message, fields: LOG.log(
            {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING}.get(level, logging.ERROR),
            "%s %s", message, " ".join(f"{k}={v}" for k, v in fields)))
        self._ticking = threading.Event()
        threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self):
        # The epoch moves each second: a call's deadline is in seconds.
        while not self._ticking.wait(1):
            self.engine.increment_epoch()

    def close(self):
        self._ticking.set()

    def _linker(self, http_, run, state):
        linker = wc.Linker(self.engine)
        pending = {}
        reps = itertools.count(1)
        pending_type = wc.ResourceType.host(1)

        def log(_, level, message, fields):
            if level == "error":
                state["last_error"] = message
            self.log(level, message, fields)

        def sleep(_, ms):
            time.sleep(min(ms / 1000, max(0, state["deadline"] - time.monotonic())))

        def start(_, request):
            rep = next(reps)
            pending[rep] = request
            return wc.ResourceHost.own(rep, 1)

        def rep_of(store, handle):
            # Taken as the host's resource, a borrow given to the host ends
            # (one left untaken traps the call).
            return handle.to_host(store).rep

        def finish(store, handle):
            rep = rep_of(store, handle)
            request = pending.get(rep)
            if request is None:
                return wc.Variant("other", "this request's answer was already taken")
            pending[rep] = None
            # Sent now: the WIT lets a host send a started request at `finish`.
            return http_.fetch(request)

        def store_call(f):
            def call(_, *args):
                if run is None:
                    return "no element store is open for this call"
                try:
                    return f(*args)
                except StoreError as e:
                    return str(e)
            return call

        def look_up(kind, ids):
            presence, fingerprints, staged = [], [], []
            for stored, now in run.look_up(kind, ids):
                if stored is None:
                    presence.append("absent")
                    fingerprints.append(0)
                elif stored[1]:
                    presence.append("removed")
                    fingerprints.append(0)
                elif stored[0] is None:
                    presence.append("held-unfingerprinted")
                    fingerprints.append(0)
                else:
                    presence.append("held")
                    fingerprints.append(stored[0])
                staged.append(now or "nothing")
            return _record({"presence": presence, "fingerprints": fingerprints, "staged": staged})

        def stage_written(kind, written):
            # The component gives each element's stored form as JSON.
            run.stage_written(kind, [json.loads(d) for d in written.data], list(written.fingerprints),
                              list(written.changes))

        def stage_marks(kind, marks):
            run.stage_marks(kind, [(m.id, m.staged, m.reason) for m in marks])

        with linker.root() as root:
            with root.add_instance(f"{PACKAGE}/types@{VERSION}"):
                pass
            with root.add_instance(f"{PACKAGE}/log@{VERSION}") as i:
                i.add_func("log", log)
            with root.add_instance(f"{PACKAGE}/clock@{VERSION}") as i:
                i.add_func("sleep", sleep)
                i.add_func("now-ms", lambda _: int(time.time() * 1000))
            with root.add_instance(f"{PACKAGE}/http-fetch@{VERSION}") as i:
                i.add_resource("pending", pending_type, lambda _, rep: pending.pop(rep, None))
                i.add_func("fetch", lambda _, request: http_.fetch(request))
                i.add_func("start", start)
                i.add_func("[method]pending.finish", finish)
                # Sent only at `finish`, so never ready before (the WIT allows it).
                i.add_func("[method]pending.ready", lambda store, handle: rep_of(store, handle) and False)
            with root.add_instance(f"{PACKAGE}/element-store@{VERSION}") as i:
                i.add_func("look-up", store_call(look_up))
                i.add_func("stage-written", store_call(stage_written))
                i.add_func("stage-marks", store_call(stage_marks))
                i.add_func("held-count", store_call(lambda kind: run.held_count(kind)))
                i.add_func("held-ids", store_call(lambda kind, after, limit: run.held_ids(kind, after, limit)))
                i.add_func("unstaged-ids", store_call(lambda kind, after, limit: run.unstaged_ids(kind, after, limit)))
        return linker

    def _call(self, interface, name, args, run=None):
        state = {"deadline": time.monotonic() + TIME_S, "last_error": None}
        http_ = _Http(self.allow_origin)
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=MEMORY_BYTES)
        store.set_epoch_deadline(TIME_S)
        try:
            instance = self._linker(http_, run, state).instantiate(store, self.component)
            iface = instance.get_export_index(store, f"{PACKAGE}/{interface}@{VERSION}")
            func = instance.get_func(store, instance.get_export_index(store, name, iface))
            answer = func(store, *args)
            return answer
        except wasmtime.WasmtimeError as e:
            raise MapsyncError("trap", state["last_error"] or str(e)) from e
        except Exception as e:
            # An import that raised (a store's bug, not its answer) trapped
            # the component; wasmtime-py raises it again once unwound.
            raise MapsyncError("trap", f"{type(e).__name__}: {e}") from e
        finally:
            http_._close()

    def sync(self, settings):
        """One sync (the WIT `sync.run`): the report as a dict; raises
        MapsyncError, the store unchanged, when it fails."""
        run = self.store.begin_run()
        try:
            answer = self._call("sync", "run", [_settings(settings, run.state)], run)
        except BaseException:
            run.roll_back()
            raise
        # wasmtime-py tags this result (its cases' Python types overlap), and
        # not the run-error inside it (theirs do not): told apart by type.
        if answer.tag == "err":
            run.roll_back()
            detail = stored_form(answer.payload)
            if isinstance(detail, str):
                raise MapsyncError("failed", detail)
            raise MapsyncError("removals-held", detail["message"], detail)
        answer = answer.payload
        run.commit(answer.state)
        return stored_form(answer)

    def check(self, settings):
        """Reach, authenticate, read one row: the steps as dicts."""
        return stored_form(self._call("sync", "check", [_settings(settings, None)]))


def _settings(s, state):
    return _record({
        "api-url": s["api_url"],
        "api-key": s.get("api_key", ""),
        "user": s.get("user", ""),
        "password": s.get("password", ""),
        "project-name": s.get("project_name"),
        "page-size": s.get("page_size", 0),
        "max-attempts": s.get("max_attempts", 0),
        "timeout-ms": s.get("timeout_ms", 0),
        "pages-in-flight": s.get("pages_in_flight", 0),
        "requests-per-second": s.get("requests_per_second", 0),
        "switched-off": list(s.get("switched_off", [])),
        "max-removal-percent": s.get("max_removal_percent", 20),
        "allow-removals": s.get("allow_removals", False),
        "state": s.get("state", state),
        "full": s.get("full", False),
        "full-every-hours": s.get("full_every_hours", 0),
    })
