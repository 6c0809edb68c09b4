// The package as a user gets it: its version follows the WIT's, and the
// tarball `npm pack` makes installs into an empty folder, runs the
// README's example there with no Rust toolchain on the PATH, and its types
// check a program that uses them.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, startServer, tempDir } from './support/helpers.js';

const PACKAGE_DIR = join(ROOT, 'embed/node');
const read = (path) => readFileSync(join(ROOT, path), 'utf8');
const witVersion = /^package mapsync:integration@(\S+);$/m.exec(read('wit/mapsync.wit'))[1];

test("the package's version and import names are the WIT's", () => {
  const pkg = JSON.parse(read('embed/node/package.json'));
  assert.equal(pkg.version, witVersion, 'package.json version');
  assert.match(pkg.description, new RegExp(`mapsync:integration@${witVersion.replaceAll('.', '\\.')}\\b`));
  const index = read('embed/node/src/index.js');
  assert.equal(/const VERSION = '([^']+)';/.exec(index)?.[1], witVersion, 'VERSION in src/index.js');
  assert.match(index, new RegExp(`mapsync:integration@${witVersion.replaceAll('.', '\\.')}\\b`));
  const readme = read('embed/node/README.md');
  for (const named of readme.matchAll(/mapsync:integration@(\d+\.\d+\.\d+)/g)) {
    assert.equal(named[1], witVersion, 'the README names another version');
  }
  // jco's bindings of the built component name its imports at that version.
  const bindings = read('embed/node/gen/mapsync.d.ts');
  const named = [...bindings.matchAll(/'mapsync:integration\/[a-z-]+@([^']+)'/g)].map((m) => m[1]);
  assert.ok(named.length > 0, 'no versioned import in the bindings');
  assert.deepEqual([...new Set(named)], [witVersion], 'the component was built from another WIT');
});

let server;
before(async () => {
  server = await startServer(['--elements', '300', '--seed', '3']);
});
after(() => server?.stop());

/** PATH without any folder that holds a Rust toolchain. */
function pathWithoutRust() {
  return process.env.PATH.split(delimiter)
    .filter((dir) => !['cargo', 'rustc', 'rustup'].some((tool) => existsSync(join(dir, tool))))
    .join(delimiter);
}

test('npm pack makes a tarball that installs and runs the README example without Rust', () => {
  const dir = tempDir();
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', dir, '--loglevel=error'], {
      cwd: PACKAGE_DIR,
      encoding: 'utf8',
    }),
  );
  const files = packed.files.map((f) => f.path);
  for (const expected of [
    'package.json', 'README.md', 'src/index.js', 'src/index.d.ts', 'src/memory-store.js',
    'gen/mapsync.js', 'gen/mapsync.d.ts', 'gen/mapsync.core.wasm', 'gen/mapsync.wasm', 'gen/mapsync.wit',
  ]) {
    assert.ok(files.includes(expected), `the tarball lacks ${expected}`);
  }
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), 'tests or node_modules packed');
  assert.equal(packed.version, witVersion);

  // An empty folder: the tarball only, offline (the package needs nothing
  // else), and no Rust anywhere on the PATH.
  const app = join(dir, 'app');
  mkdirSync(app);
  const env = { ...process.env, PATH: pathWithoutRust() };
  assert.throws(() => execFileSync('cargo', ['--version'], { env, stdio: 'ignore' }), 'cargo is still on the PATH');
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', join(dir, packed.filename)], {
    cwd: app,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });

  const example = /```js\n([\s\S]*?)```/.exec(read('embed/node/README.md'))[1];
  writeFileSync(join(app, 'example.mjs'), example);
  const out = execFileSync(process.execPath, ['example.mjs'], {
    cwd: app,
    encoding: 'utf8',
    env: { ...env, OZMAP_URL: server.url, OZMAP_API_KEY: 'test-api-key', OZMAP_PASSWORD: 'secret' },
  });
  const splitters = /^(\d+) splitters stored$/m.exec(out);
  assert.ok(splitters && Number(splitters[1]) > 0, `the example stored no splitter:\n${out}`);
  assert.match(out, /^splitter \d+ 0 0$/m, `no splitter line in the report:\n${out}`);

  // The types, as an embedder's TypeScript resolves them from the package.
  copyFileSync(join(PACKAGE_DIR, 'test/support/consumer.mts'), join(app, 'consumer.mts'));
  const tsc = join(PACKAGE_DIR, 'node_modules/typescript/bin/tsc');
  const checked = spawnSync(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--skipLibCheck', 'false', 'consumer.mts'],
    { cwd: app, encoding: 'utf8', env },
  );
  assert.equal(checked.status, 0, `the package's types do not check:\n${checked.stdout}${checked.stderr}`);
});
