// The project's binaries, as the Rust suite (`cargo test --workspace`,
// step 2 of tests/run) built them: the Node tests build nothing.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const TARGET = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
export const TARGET_DIR = TARGET;

/** The path of a binary cargo built in the dev profile; throws, naming
 * the command that builds it, when there is none. */
export function binary(name) {
  const path = join(TARGET, 'debug', name);
  if (!existsSync(path)) {
    throw new Error(`no ${path}: the Node tests use what \`cargo test --workspace\` builds (tests/run runs it first)`);
  }
  return path;
}
