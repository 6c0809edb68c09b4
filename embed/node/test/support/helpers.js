// What the tests share: the project's binaries, built by cargo, and the
// OZmap test server they run against.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
export const MAPSYNC = join(TARGET, 'debug', 'mapsync');
const SERVER = join(TARGET, 'debug', 'ozmap-test-server');

/** Builds the mapsync binary (and with it the component) and the test
 * server; quick when cargo already did. */
export function buildBinaries() {
  execFileSync('cargo', ['build', '--quiet', '-p', 'mapsync', '-p', 'ozmap-test-server'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

/** Starts the OZmap test server on a free port; resolves { url, stop }. */
export function startServer(args = []) {
  return listening(spawn(SERVER, ['--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] }));
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
  return execFileSync(MAPSYNC, ['--db', db, ...args], {
    encoding: 'utf8',
    env: { ...process.env, MAPSYNC_CACHE_DIR: join(TARGET, 'node-test-cache') },
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
