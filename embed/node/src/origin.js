// The one origin a component may reach: the same rule as the Rust host's
// host/src/fetch.rs, so a component behaves alike on both.

const DEFAULT_PORTS = { 'http:': '80', 'https:': '443' };

/** `scheme://host:port` with the scheme's default port made explicit, so
 * `https://a` and `https://a:443` are the same origin; null without a host. */
export function originOf(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (!parsed.hostname) return null;
  const port = parsed.port || DEFAULT_PORTS[parsed.protocol];
  if (!port) return null;
  return `${parsed.protocol.slice(0, -1)}://${parsed.hostname}:${port}`;
}

/** Why `url` may not be fetched when only `allowed` (an origin, from
 * `originOf`) is; null when it may. */
export function refusal(url, allowed) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch (e) {
    return { tag: 'other', val: `invalid URL: ${e.message}` };
  }
  const origin = originOf(url);
  if (origin === null) return { tag: 'other', val: 'the URL has no host' };
  if (origin !== allowed) {
    return {
      tag: 'denied',
      val: `${origin} is not the integration's platform (${allowed}); mapsync reaches no other host`,
    };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { tag: 'denied', val: `scheme ${parsed.protocol.slice(0, -1)} is not HTTP` };
  }
  return null;
}
