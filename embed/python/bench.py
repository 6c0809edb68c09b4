"""A first sync of 20k elements (the test server's --elements), by the Rust
host (`mapsync sync`, the whole process) and by this package (the call, the
component compiled before), side by side; prints figures, asserts nothing.

    MAPSYNC_COMPONENT=... python bench.py [ELEMENTS]   (see run-tests)
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "tests"))
import mapsync  # noqa: E402  (the installed package)
from test_mapsync import SECRETS, Server, binary  # noqa: E402

elements = sys.argv[1] if len(sys.argv) > 1 else "20000"
server = Server("--elements", elements, "--seed", "7")
try:
    with tempfile.TemporaryDirectory() as dir:
        db = os.path.join(dir, "mapsync.db")

        def rust(*args):
            subprocess.run([binary("mapsync"), "--db", db, *args], check=True, capture_output=True)

        rust("integration", "add", "--name", "b", "--api-url", server.url, "--api-key", SECRETS["api_key"],
             "--user", SECRETS["user"], "--password", SECRETS["password"])
        rust("integration", "link", "--integration", "b", "--new", "B")
        began = time.monotonic()
        rust("sync", "--integration", "b", "--full")
        rust_s = time.monotonic() - began
    began = time.monotonic()
    m = mapsync.Mapsync(server.url, component=os.environ.get("MAPSYNC_COMPONENT"), log=lambda *a: None)
    compiled_s = time.monotonic() - began
    began = time.monotonic()
    report = m.sync({"api_url": server.url, **SECRETS})
    python_s = time.monotonic() - began
    read = sum(k["created"] for k in report["kinds"])
    m.close()
    print(f"first sync of {read} elements (test server --elements {elements}):")
    print(f"  Rust host, mapsync sync (process)   {rust_s:6.2f} s")
    print(f"  Python, Mapsync.sync (the call)     {python_s:6.2f} s   ({read / python_s:,.0f} elements/s; compiling the component before: {compiled_s:.2f} s)")
    verdict = "met" if python_s <= 3 * rust_s else "MISSED"
    print(f"  ratio {python_s / rust_s:.2f}x (target <= 3x) {verdict}")
finally:
    server.stop()
