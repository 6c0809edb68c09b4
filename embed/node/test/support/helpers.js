// What the tests share: the project's binaries, as the Rust suite built
// them, and the OZmap test server they run against.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, TARGET_DIR, binary } from './binaries.js';

export { ROOT };

/** Starts the OZmap test server on a free port; resolves { url, stop }. */
export function startServer(args = []) {
  return listening(spawn(binary('ozmap-test-server'), ['--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] }));
}

/** Resolves { url, stop } once `child` prints "listening on URL". */
function listening(child) {
  return new Promise((resolvePromise, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const found = /listening on (http:\/\/\S+)/.exec(out);
      if (found) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolvePromise({ url: found[1], stop: () => child.kill('SIGINT') });
      }
    });
    child.on('exit', (code) => reject(new Error(`the test server exited (${code}): ${out}`)));
  });
}

/** Runs the mapsync binary; answers its stdout. */
export function mapsync(db, ...args) {
  return execFileSync(binary('mapsync'), ['--db', db, ...args], {
    encoding: 'utf8',
    env: { ...process.env, MAPSYNC_CACHE_DIR: join(TARGET_DIR, 'node-test-cache') },
    maxBuffer: 256 << 20,
  });
}

export function tempDir() {
  return mkdtempSync(join(tmpdir(), 'mapsync-node-'));
}

/** Starts test/faulty-proxy.js in front of `upstream`: `faults` maps a
 * path prefix to statuses answered first, in order. Resolves { url, stop }. */
export function faultyProxy(upstream, faults) {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'faulty-proxy.js');
  return listening(spawn(process.execPath, [script, upstream, JSON.stringify(faults)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }));
}
