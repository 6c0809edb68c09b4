// Transpiles the built component (target/guest/mapsync.wasm, made by
// `cargo build -p mapsync`; or MAPSYNC_COMPONENT) into gen/ with jco, for
// instantiation on demand: the package makes a fresh instance per call.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const component =
  process.env.MAPSYNC_COMPONENT ?? resolve(root, '../../target/guest/mapsync.wasm');
if (!existsSync(component)) {
  console.error(`no component at ${component}: run \`cargo build -p mapsync\` first (or set MAPSYNC_COMPONENT)`);
  process.exit(1);
}
const out = join(root, 'gen');
rmSync(out, { recursive: true, force: true });
const jco = join(root, 'node_modules/@bytecodealliance/jco/dist/jco.js');
execFileSync(
  process.execPath,
  [jco, 'transpile', component, '-o', out, '--name', 'mapsync', '--instantiation', 'sync', '--quiet'],
  { stdio: 'inherit' },
);
