// A program of an embedder's, type-checked against the installed package's
// types (test/package.test.js): what the README shows, with the types named.
import {
  createMapsync,
  KINDS,
  MapsyncError,
  MemoryStore,
  originOf,
  type CheckStep,
  type ElementKind,
  type Mapsync,
  type Report,
  type Settings,
} from '@mapsync/node';

declare const process: { env: Record<string, string | undefined> };

const apiUrl: string = process.env.OZMAP_URL ?? 'https://yourisp.ozmap.com.br:9994';
const settings: Settings = { apiUrl, apiKey: process.env.OZMAP_API_KEY, user: 'mapsync', pageSize: 500 };
const store = new MemoryStore();
const mapsync: Mapsync = await createMapsync({ store, allowOrigin: originOf(apiUrl) ?? apiUrl, timeMs: 60_000 });
try {
  const steps: CheckStep[] = await mapsync.check(settings);
  const failed: string[] = steps.filter((s) => !s.ok).map((s) => `${s.step}: ${s.detail}`);
  const report: Report = await mapsync.sync(settings);
  const created: number = report.kinds.reduce((n, k) => n + k.created, 0);
  const kinds: readonly ElementKind[] = KINDS;
  const splitters: object[] = store.elements('splitter');
  console.log(failed, created, kinds.length, splitters.length, report.state.length);
} catch (e) {
  if (e instanceof MapsyncError) console.log(e.kind, e.message);
} finally {
  await mapsync.close();
}
