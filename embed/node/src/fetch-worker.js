// The HTTP exchange of a blocking `http-fetch`, off the main thread: the
// main thread waits on a shared flag (Atomics.wait) while this worker's
// event loop runs the request, then reads the answer from the port.
import { workerData } from 'node:worker_threads';

const { port, flag, maxBody } = workerData;

port.on('message', async (request) => {
  let answer;
  try {
    answer = { ok: await exchange(request) };
  } catch (e) {
    answer = { err: classify(e) };
  }
  port.postMessage({ id: request.id, answer });
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});

async function exchange(request) {
  const response = await fetch(request.url, {
    method: request.method.toUpperCase(),
    headers: request.headers,
    body: request.body ?? undefined,
    // Never follow a redirect: it could lead to another origin.
    redirect: 'manual',
    signal: AbortSignal.timeout(Math.max(1, request.timeoutMs)),
  });
  const chunks = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    if (size > maxBody) {
      throw Object.assign(new Error(`the answer is larger than ${maxBody >> 20} MiB`), {
        mapsync: 'other',
      });
    }
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  // The contract carries the body as text (UTF-8, what is not replaced).
  return { status: response.status, headers: [...response.headers], body: new TextDecoder().decode(body) };
}

/** A failed exchange as a WIT `fetch-error`. */
function classify(e) {
  if (e?.mapsync === 'other') return { tag: 'other', val: e.message };
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return { tag: 'timeout' };
  const code = e?.cause?.code ?? e?.code ?? '';
  if (code === 'ECONNREFUSED') return { tag: 'connection-refused' };
  if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(code)) {
    return { tag: 'connection-reset' };
  }
  if (/TIMEOUT/.test(code)) return { tag: 'timeout' };
  if (/^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/.test(code)) {
    return { tag: 'tls', val: e?.cause?.message ?? String(code) };
  }
  // A body cut short ends in a terminated stream.
  if (e?.name === 'TypeError' && /terminated/i.test(e?.message ?? '')) {
    return { tag: 'connection-reset' };
  }
  return { tag: 'other', val: e?.cause?.message ?? e?.message ?? String(e) };
}
