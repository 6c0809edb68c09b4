// Transpiles the built component (target/guest/mapsync.wasm, made by any
// cargo build or test of the mapsync host; or MAPSYNC_COMPONENT) into gen/
// with jco, for instantiation on demand: the package makes a fresh instance
// per call. The component itself and its WIT go beside jco's output, for an
// embedder to read or run elsewhere. `npm pack` runs this first.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const workspace = resolve(root, '../..');
const target = process.env.CARGO_TARGET_DIR ? resolve(workspace, process.env.CARGO_TARGET_DIR) : join(workspace, 'target');
const component = process.env.MAPSYNC_COMPONENT ?? join(target, 'guest/mapsync.wasm');
if (!existsSync(component)) {
  console.error(`no component at ${component}: build it with \`cargo build -p mapsync\` (or set MAPSYNC_COMPONENT)`);
  process.exit(1);
}
const out = join(root, 'gen');
rmSync(out, { recursive: true, force: true });
const jco = join(root, 'node_modules/@bytecodealliance/jco/dist/jco.js');
if (!existsSync(jco)) {
  console.error('jco is not installed: run `npm ci` in embed/node first');
  process.exit(1);
}
execFileSync(
  process.execPath,
  [jco, 'transpile', component, '-o', out, '--name', 'mapsync', '--instantiation', 'sync', '--quiet'],
  { stdio: 'inherit' },
);
copyFileSync(component, join(out, 'mapsync.wasm'));
copyFileSync(join(workspace, 'wit/mapsync.wit'), join(out, 'mapsync.wit'));
