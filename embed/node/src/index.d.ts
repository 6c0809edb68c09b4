// Types of @mapsync/node. The records the component answers (reports,
// check steps, bindings, matches) are the WIT's, as jco generates them in
// gen/interfaces/ from wit/mapsync.wit.
import type * as Sync from '../gen/interfaces/mapsync-integration-sync.js';
import type * as Binding from '../gen/interfaces/mapsync-integration-binding.js';
import type * as Matching from '../gen/interfaces/mapsync-integration-matching.js';
import type { ElementKind } from '../gen/interfaces/mapsync-integration-types.js';

export type { ElementKind };
export type Report = Sync.Report;
export type CheckStep = Sync.CheckStep;

/** The element kinds, in the order a sync reads them. */
export const KINDS: readonly ElementKind[];

/** Whether this Node has JSPI (`WebAssembly.Suspending`). */
export const jspiAvailable: boolean;

/** `scheme://host:port` with the scheme's default port made explicit; null
 * without a host. */
export function originOf(url: string): string | null;

/** A WIT record from jco (camelCase) in its stored form (snake case,
 * absent options null). */
export function storedForm(value: unknown): unknown;

/** The WIT's `settings`: everything but the platform's address and
 * credentials has a default. */
export interface Settings {
  apiUrl: string;
  apiKey?: string;
  user?: string;
  password?: string;
  /** Only this project (as the platform names it); poles are always read. */
  projectName?: string;
  pageSize?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  pagesInFlight?: number;
  /** At most this many requests start in any second (0 or absent: no ceiling). */
  requestsPerSecond?: number;
  switchedOff?: ElementKind[];
  /** Default 20. */
  maxRemovalPercent?: number;
  allowRemovals?: boolean;
  /** The last report's `state`; by default the store's. */
  state?: string;
  full?: boolean;
  fullEveryHours?: number;
}

/** A component's `err` or a trap: `kind` is the variant's tag ('failed',
 * 'removals-held', ...) or 'trap'. */
export class MapsyncError extends Error {
  kind: string;
  detail: unknown;
}

/** One run of a store: what the component writes to (see
 * src/memory-store.js and the WIT's `element-store`). */
/** What a run staged for an element (the WIT `staged`). */
export type Staged = 'created' | 'updated' | 'unchanged' | 'invalid' | 'gone' | 'seen';

/** One run of a store: the bytes the component reads and stages through;
 * the rules are the component's (see src/memory-store.js and the WIT's
 * `element-store`). */
export interface StoreRun {
  readonly state: string | null;
  lookUp(kind: ElementKind, ids: string[]):
    { stored: { fingerprint: bigint | null; removed: boolean } | null; staged: Staged | null }[];
  stageWritten(kind: ElementKind, elements: object[], fingerprints: bigint[], changes: Staged[]): void;
  stageMarks(kind: ElementKind, marks: { id: string; staged: Staged; reason: string | null }[]): void;
  heldCount(kind: ElementKind): number;
  heldIds(kind: ElementKind, after: string | null, limit: number): string[];
  unstagedIds(kind: ElementKind, after: string | null, limit: number): string[];
  commit(applied: { state?: string }): void | Promise<void>;
  rollBack(): void | Promise<void>;
}

/** A store of yours: it hands out one run at a time. */
export interface Store {
  beginRun(): StoreRun;
}

/** The in-memory store. */
export class MemoryStore implements Store {
  beginRun(): StoreRun;
  /** The stored (not removed) elements of a kind, in id order, in their
   * stored form. */
  elements(kind: ElementKind): object[];
}

export interface Options {
  store?: Store;
  /** The platform's URL: the one origin the component may reach. */
  allowOrigin: string;
  /** The most any one request may take; default 60 s. */
  fetchTimeoutMs?: number;
  /** The component's memory bound; default 512 MiB. */
  memoryBytes?: number;
  /** Each call's time bound; default 4 h. */
  timeMs?: number;
  /** The component's log lines; never a secret. Default: warn and error
   * to stderr. */
  log?: (level: string, message: string, fields: [string, string][]) => void;
}

export interface Mapsync {
  readonly jspiAvailable: boolean;
  readonly blocking: 'worker-atomics';
  readonly store: Store;
  /** Resolves the report; rejects with a MapsyncError, the store then
   * unchanged. */
  sync(settings: Settings): Promise<Report>;
  check(settings: Settings): Promise<CheckStep[]>;
  push(settings: Settings, binding: Parameters<typeof Binding.push>[1]): Promise<ReturnType<typeof Binding.push>>;
  pushToClient(
    settings: Settings,
    binding: Parameters<typeof Binding.pushToClient>[1],
    client: Parameters<typeof Binding.pushToClient>[2],
  ): Promise<ReturnType<typeof Binding.pushToClient>>;
  moveProperty(
    settings: Settings,
    binding: Parameters<typeof Binding.moveProperty>[1],
    property: Parameters<typeof Binding.moveProperty>[2],
    client?: Parameters<typeof Binding.moveProperty>[3],
  ): Promise<ReturnType<typeof Binding.moveProperty>>;
  deleteProperty(
    settings: Settings,
    property: Parameters<typeof Binding.deleteProperty>[1],
  ): Promise<ReturnType<typeof Binding.deleteProperty>>;
  withdraw(settings: Settings, code: string): Promise<ReturnType<typeof Binding.withdraw>>;
  identify(
    services: Parameters<typeof Matching.identify>[0],
    clients: Parameters<typeof Matching.identify>[1],
  ): Promise<ReturnType<typeof Matching.identify>>;
  suggest(
    services: Parameters<typeof Matching.suggest>[0],
    clients: Parameters<typeof Matching.suggest>[1],
    options?: { rejected?: Parameters<typeof Matching.suggest>[2]; minScore?: number },
  ): Promise<ReturnType<typeof Matching.suggest>>;
  /** Stop the fetch worker. */
  close(): Promise<unknown>;
}

export function createMapsync(options: Options): Promise<Mapsync>;
