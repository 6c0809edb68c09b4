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
    // Requests under way, by id: when to stop waiting, and answers come in.
    this.deadlines = new Map();
    this.answers = new Map();
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
    return this.finish(this.start(request, allowed, timeoutMs));
  }

  /**
   * Send a request and go on: answers its id, for `finish`. A request to
   * another origin is answered at once, refused.
   */
  start(request, allowed, timeoutMs) {
    const id = ++this.sequence;
    const refused = refusal(request.url, allowed);
    if (refused) {
      this.answers.set(id, { err: refused });
      return id;
    }
    this.port.postMessage({ ...request, id, timeoutMs });
    // The worker answers within timeoutMs; the margin covers its start.
    this.deadlines.set(id, Date.now() + timeoutMs + 5000);
    return id;
  }

  /** Whether the answer to request `id` is in: `finish` would not wait. */
  ready(id) {
    this.receive();
    return this.answers.has(id);
  }

  /** Keep the answers the worker sent so far. */
  receive() {
    let received;
    while ((received = receiveMessageOnPort(this.port))) {
      const { id: of, answer } = received.message;
      // Answers to requests abandoned or timed out here are dropped.
      if (this.deadlines.has(of)) this.answers.set(of, answer);
    }
  }

  /** The answer to the request `start` answered `id` for, blocking. */
  finish(id) {
    const until = this.deadlines.get(id) ?? 0;
    // The flag is reset before each read, so an answer is never missed.
    for (;;) {
      this.receive();
      if (this.answers.has(id)) {
        const answer = this.answers.get(id);
        this.abandon(id);
        return answer;
      }
      const left = until - Date.now();
      if (left <= 0) {
        this.abandon(id);
        return { err: { tag: 'timeout' } };
      }
      Atomics.wait(this.flag, 0, 0, left);
      Atomics.store(this.flag, 0, 0);
    }
  }

  /** Forget a request: its answer, if it comes, is dropped. */
  abandon(id) {
    this.answers.delete(id);
    this.deadlines.delete(id);
  }

  close() {
    return this.worker.terminate();
  }
}
