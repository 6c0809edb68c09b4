// A map without tiles: boxes (and a service's position) drawn as points on
// plain SVG, scaled to fit, with a scale bar. Nothing is fetched from the
// internet; street context comes from the platform, not from here.
import { t, number } from '/console/i18n.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 640;
const HEIGHT = 360;
const PAD = 24;

function el(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

/** Great-circle distance in metres, as the API's `/ports/free` measures. */
export function distanceM(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(s));
}

/** `points`: `{lat, lng, label, href?}`; `center`: a highlighted point
 * (a service), or null. */
export function drawMap(points, center) {
  const all = points.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lng));
  const every = center ? [...all, center] : all;
  if (!every.length) return null;
  const midLat = every.reduce((s, p) => s + p.lat, 0) / every.length;
  const kx = Math.cos((midLat * Math.PI) / 180);
  const xs = every.map((p) => p.lng * kx);
  const ys = every.map((p) => p.lat);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(maxX - minX, maxY - minY, 0.0005);
  const scale = Math.min((WIDTH - 2 * PAD) / span, (HEIGHT - 2 * PAD) / span);
  const x = (p) => PAD + (p.lng * kx - minX) * scale + ((WIDTH - 2 * PAD) - (maxX - minX) * scale) / 2;
  const y = (p) => HEIGHT - PAD - (p.lat - minY) * scale - ((HEIGHT - 2 * PAD) - (maxY - minY) * scale) / 2;
  const svg = el('svg', { class: 'map', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': t('map.label', { count: all.length }) });
  svg.append(el('rect', { x: 0, y: 0, width: WIDTH, height: HEIGHT, class: 'map-ground' }));
  for (const p of all) {
    const dot = el('circle', { cx: x(p).toFixed(1), cy: y(p).toFixed(1), r: 6, class: 'map-box' }, el('title', {}, p.label || ''));
    svg.append(p.href ? el('a', { href: p.href }, dot) : dot);
  }
  if (center) {
    const cx = x(center);
    const cy = y(center);
    svg.append(el('path', { d: `M${cx} ${cy - 10}l7 10-7 10-7-10z`, class: 'map-service' }, el('title', {}, center.label || t('map.point'))));
  }
  // A scale bar of a round length near a fifth of the width.
  const metresPerPx = (111320 * 1) / scale;
  const target = metresPerPx * (WIDTH / 5);
  const round = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000].find((m) => m >= target) || target;
  const length = round / metresPerPx;
  svg.append(el('g', { class: 'map-scale' },
    el('line', { x1: PAD, y1: HEIGHT - 10, x2: PAD + length, y2: HEIGHT - 10 }),
    el('text', { x: PAD, y: HEIGHT - 14 }, round >= 1000 ? `${number(round / 1000)} km` : `${number(round)} m`)));
  return svg;
}
