// A blocking `http-fetch` for Node 20, which has no JSPI: the exchange runs
// in a worker thread while the caller waits on Atomics.wait, then takes the
// answer with receiveMessageOnPort. Requests go only to the allowed origin.
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { refusal } from './origin.js';

/** The largest answer accepted, as the Rust host: 64 MiB. */
const MAX_BODY = 64 << 20;

export class BlockingFetcher {
  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.flag = new Int32Array(new SharedArrayBuffer(4));
    this.sequence = 0;
    this.worker = new Worker(new URL('./fetch-worker.js', import.meta.url), {
      workerData: { port: port2, flag: this.flag, maxBody: MAX_BODY },
      transferList: [port2],
    });
    // An idle worker must not keep the process alive.
    this.worker.unref();
    this.port.unref();
  }

  /**
   * One exchange, blocking. `allowed` is the only origin; `timeoutMs` bounds
   * the exchange (the component's own bound, within the call's deadline).
   * Answers `{ ok: response }` or `{ err: fetch-error }`.
   */
  fetch(request, allowed, timeoutMs) {
    const refused = refusal(request.url, allowed);
    if (refused) return { err: refused };
    const id = ++this.sequence;
    this.port.postMessage({ ...request, id, timeoutMs });
    // The worker answers within timeoutMs; the margin covers its start. An
    // answer to an earlier request that timed out here is dropped. The flag
    // is reset before each read, so an answer is never missed.
    const until = Date.now() + timeoutMs + 5000;
    for (;;) {
      let received;
      while ((received = receiveMessageOnPort(this.port))) {
        if (received.message.id === id) return received.message.answer;
      }
      const left = until - Date.now();
      if (left <= 0) return { err: { tag: 'timeout' } };
      Atomics.wait(this.flag, 0, 0, left);
      Atomics.store(this.flag, 0, 0);
    }
  }

  close() {
    return this.worker.terminate();
  }
}
