// Building the screens: elements made from data, never from HTML strings,
// so no name or reason from the platform can inject markup.
import { t, number, when } from '/console/i18n.js';

/** An element: `attrs` are attributes, except `on*` (listeners) and
 * `text`; children are nodes, strings, or nothing (null, false). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

/** Replace a node's children, skipping nothing-values as `h` does (the
 * DOM's own replaceChildren would write "null"). */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

/** A labelled form field with its hint and the place for its error: the
 * input is `#f-NAME`, the error `#f-NAME-error`. */
export function field(name, label, { type = 'text', hint, value, required, placeholder, autocomplete, attrs = {} } = {}) {
  const id = `f-${name}`;
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  return h('div', { class: 'field' },
    h('label', { for: id, text: label + (required ? ' *' : '') }),
    h('input', { id, name, type, value: value ?? '', required, placeholder, autocomplete: autocomplete || 'off', 'aria-describedby': described, ...attrs }),
    hint ? h('p', { id: `${id}-hint`, class: 'hint', text: hint }) : null,
    h('p', { id: `${id}-error`, class: 'error', role: 'alert' }));
}

/** Show the API's refusal at the field it names, or in `fallback`. */
export function showError(form, error, fallback) {
  for (const bad of form.querySelectorAll('[aria-invalid]')) bad.removeAttribute('aria-invalid');
  for (const place of form.querySelectorAll('.field .error')) place.textContent = '';
  fallback.textContent = '';
  if (!error) return;
  const input = error.field && form.querySelector(`#f-${CSS.escape(error.field)}`);
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    form.querySelector(`#f-${CSS.escape(error.field)}-error`).textContent = error.message;
    input.focus();
  } else {
    fallback.textContent = error.message;
  }
}

/** Run `work` for a button: disabled (and saying so) while it runs; its
 * error goes to `place` (the toast when none), never silently away. */
export async function busy(button, work, place) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = t('working');
  try {
    return await work();
  } catch (error) {
    if (place) place.textContent = error.message;
    else toast(error.message, true);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

let toastTimer;
export function toast(message, bad = false) {
  const place = document.getElementById('toast');
  place.textContent = message;
  place.className = bad ? 'shown bad' : 'shown';
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { place.className = ''; }, bad ? 8000 : 4000);
}

/** A table with a header row; `rows` are arrays of cells (or `{attrs,
 * cells}` for a row with attributes). */
export function table(id, headers, rows, empty) {
  if (!rows.length) return h('p', { id, class: 'empty', text: empty });
  return h('div', { class: 'scroll' }, h('table', { id },
    h('thead', {}, h('tr', {}, headers.map((head) => h('th', { scope: 'col', text: head })))),
    h('tbody', {}, rows.map((row) => Array.isArray(row)
      ? h('tr', {}, row.map((cell) => h('td', {}, cell)))
      : h('tr', row.attrs, row.cells.map((cell) => h('td', {}, cell)))))));
}

/** A state as a coloured word: `kind` picks the catalogue's words. */
export function badge(kind, state) {
  return h('span', { class: `badge ${kind}-${state}`, text: t(`${kind}.${state}`) });
}

/** A definition list of [label, value] pairs, skipping empty values. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(([label, value]) => [h('dt', { text: label }), h('dd', {}, value)]));
}

export { number, when };
