// The console's only way to the data: mapsync's own HTTP API, with the
// token the person signed in with. The token lives in sessionStorage: this
// tab only, gone when it closes.
import { t } from '/console/i18n.js';

const KEY = 'mapsync.token';
const PREFIX = '/api/v1';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  keep: (token) => sessionStorage.setItem(KEY, token),
  forget: () => sessionStorage.removeItem(KEY),
  /** Called when the API no longer takes the token. */
  onExpired: () => {},
};

/** A refusal, as the API shapes it: `{error: {status, code, message,
 * field}}`, with at times `rows` (a refused file) or `progress` (a sync
 * already running) beside it. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body && body.error;
    super(error && error.message ? error.message : t('error.status', { status }));
    this.status = status;
    this.code = error ? error.code : 'unknown';
    this.field = error ? error.field : undefined;
    this.rows = body ? body.rows : undefined;
    this.progress = body ? body.progress : undefined;
  }
}

/** Call a route; answers `{status, data}`. A JSON body is sent as JSON; a
 * body with `type` (a file's text) as that media type. */
export async function call(method, path, body, type) {
  const headers = { Authorization: `Bearer ${session.token() || ''}` };
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = type || 'application/json';
    payload = type ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(PREFIX + path, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, { error: { message: t('error.network') } });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.status === 401) session.onExpired();
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

export const get = async (path) => (await call('GET', path)).data;
export const post = async (path, body) => (await call('POST', path, body)).data;

/** Whether the API takes `token`: a 401 says no; any other failure is
 * thrown, so a person is never told a good token is wrong. */
export async function accepts(token) {
  const response = await fetch(`${PREFIX}/integrations`, { headers: { Authorization: `Bearer ${token}` } })
    .catch(() => { throw new ApiError(0, { error: { message: t('error.network') } }); });
  if (response.status === 401) return false;
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  return true;
}

export const path = (strings, ...values) =>
  strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
