// A proxy in front of the OZmap test server that answers injected faults
// first. Its own process: the package blocks the test's thread on
// Atomics.wait while the component waits for an answer.
//
//   node faulty-proxy.js UPSTREAM '{"/api/v2/poles": [429, 503]}'
//
// Prints "listening on URL"; each fault list is used up in order.
import { createServer, request } from 'node:http';

const [upstream, faultsJson] = process.argv.slice(2);
const target = new URL(upstream);
const faults = JSON.parse(faultsJson);
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const prefix = Object.keys(faults).find((p) => path.startsWith(p) && faults[p].length > 0);
  if (prefix) {
    const status = faults[prefix].shift();
    res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0' });
    res.end(JSON.stringify({ message: `injected ${status}` }));
    return;
  }
  const forward = request(
    { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    },
  );
  req.pipe(forward);
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
