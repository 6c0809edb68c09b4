// The official OZmap SDK's findAll of the six routes a sync reads, as an ISP
// would script it instead of mapsync: `cargo bench -p mapsync --bench sync`
// runs it on the network it serves, to hold the full sync against.
//
//   node tests/sdk/bench/find-all.mjs URL API_KEY [ROWS_A_PAGE]
//
// Prints one line of JSON: the rows read and the seconds taken. The rows are
// held until the end, as findAll's callers hold them. ROWS_A_PAGE is
// findAll's `batchSize` (the SDK's default: 100).

import { createRequire } from 'node:module';

// The SDK's logger prints every request at debug level and, unless told not
// to, serves its own HTTP control port, which keeps Node alive.
process.env.OZLOGGER_HTTP ??= 'false';
process.env.OZLOGGER_LEVEL ??= 'warn';

const require = createRequire(import.meta.url);
const OZMapSDK = require('@ozmap/ozmap-sdk').default;

const [url, apiKey, batch] = process.argv.slice(2);
if (!url || !apiKey || (batch !== undefined && !(Number(batch) > 0))) {
  console.error('usage: node find-all.mjs URL API_KEY [ROWS_A_PAGE]');
  process.exit(2);
}
const options = batch === undefined ? undefined : { batchSize: Number(batch) };

// The proxies of the routes a sync reads, in its order.
const PROXIES = ['project', 'pole', 'box', 'splitter', 'ftthClient', 'property'];

const sdk = new OZMapSDK(url, { apiKey });
const started = performance.now();
const held = [];
for (const proxy of PROXIES) {
  held.push(await sdk[proxy].findAll(options));
}
const seconds = (performance.now() - started) / 1000;
const rows = held.reduce((n, list) => n + list.length, 0);
console.log(JSON.stringify({ rows, seconds }));
