// The network: local projects, boxes found by name or near a point, and a
// box's page with one port grid per splitter, where a free port of a
// service splitter can be bound to a service.
import { t, number } from '/console/i18n.js';
import { get, call, post, path } from '/console/api.js';
import { h, fill, field, showError, busy, toast, table, facts } from '/console/dom.js';
import { drawMap, distanceM } from '/console/map.js';

export async function overview() {
  const projects = await get('/projects');
  const results = h('div', { id: 'box-results', 'aria-live': 'polite' });
  return h('section', {},
    h('h1', { text: t('network.title') }),
    h('div', { class: 'card' }, h('h2', { text: t('projects.title') }), projectsTable(projects), newProjectForm()),
    h('div', { class: 'card' }, h('h2', { text: t('boxes.title') }), searchForm(results), results));
}

function projectsTable(projects) {
  return table('projects-table', [t('projects.name'), t('projects.integration'), t('projects.unsynchronised'), ''],
    projects.map((p) => ({
      attrs: { 'data-project': p.name },
      cells: [
        p.name,
        p.integration ? h('a', { href: `#/integrations/${encodeURIComponent(p.integration)}`, text: p.integration })
          : h('span', { class: 'muted', text: t('projects.noIntegration') }),
        number(p.unsynchronised_elements || 0),
        p.integration ? removeButton(p) : '',
      ],
    })), t('projects.none'));
}

/** Removing an integration is done from the project it feeds, and asked
 * twice: it stops the syncs. */
function removeButton(project) {
  const button = h('button', { type: 'button', class: 'danger small', 'data-remove': project.name, text: t('projects.remove') });
  let armed = false;
  button.addEventListener('click', () => {
    if (!armed) {
      armed = true;
      button.textContent = t('projects.removeConfirm', { integration: project.integration });
      return;
    }
    busy(button, async () => {
      await call('DELETE', path`/projects/${project.name}/integration`);
      toast(t('projects.removed', { integration: project.integration }));
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
  });
  return button;
}

function newProjectForm() {
  const problem = h('p', { id: 'project-error', class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'secondary', text: t('projects.create') });
  const form = h('form', { id: 'project-form', class: 'inline-form', novalidate: true },
    field('project', t('projects.newName')), submit, problem);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = form.elements.project.value.trim();
    showError(form, null, problem);
    if (!name) return showError(form, { field: 'project', message: t('required') }, problem);
    await busy(submit, async () => {
      try {
        await post('/projects', { name });
        toast(t('projects.created', { name }));
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      } catch (error) {
        showError(form, error.field ? error : { field: 'project', message: error.message }, problem);
      }
    });
  });
  return form;
}

function searchForm(results) {
  const problem = h('p', { id: 'search-error', class: 'error', role: 'alert' });
  const submit = h('button', { id: 'box-search', type: 'submit', text: t('boxes.search') });
  const form = h('form', { id: 'box-form', novalidate: true },
    h('div', { class: 'row' },
      field('box_name', t('boxes.byName'), { hint: t('boxes.byNameHint') }),
      field('lat', t('boxes.lat'), { type: 'number', attrs: { step: 'any' }, placeholder: '-27.6' }),
      field('lng', t('boxes.lng'), { type: 'number', attrs: { step: 'any' }, placeholder: '-48.5' }),
      field('radius', t('boxes.radius'), { type: 'number', value: '1000', attrs: { min: 1, max: 5000 } })),
    problem, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(form, null, problem);
    const name = form.elements.box_name.value.trim();
    const lat = form.elements.lat.value.trim();
    const lng = form.elements.lng.value.trim();
    const radius = Number(form.elements.radius.value) || 1000;
    if (!name && !(lat && lng)) return showError(form, { field: 'box_name', message: t('boxes.needCriteria') }, problem);
    if (Boolean(lat) !== Boolean(lng)) return showError(form, { field: lat ? 'lng' : 'lat', message: t('boxes.needBoth') }, problem);
    await busy(submit, async () => {
      try {
        fill(results, boxResults(await findBoxes(name, lat && Number(lat), lng && Number(lng), radius),
          lat ? { lat: Number(lat), lng: Number(lng) } : null));
      } catch (error) {
        showError(form, error, problem);
      }
    });
  });
  return form;
}

/** Boxes by name, near a point, or both: a point becomes a bounding box
 * for the API, then a circle and an order by distance here. */
async function findBoxes(name, lat, lng, radius) {
  const query = new URLSearchParams();
  if (name) query.set('name', name);
  if (lat !== '' && lat !== undefined && lng !== '' && lng !== undefined) {
    const dLat = radius / 111320;
    const dLng = radius / (111320 * Math.max(Math.cos((lat * Math.PI) / 180), 0.01));
    query.set('bbox', [lng - dLng, lat - dLat, lng + dLng, lat + dLat].map((v) => v.toFixed(6)).join(','));
  }
  let boxes = await get(`/boxes?${query}`);
  if (query.has('bbox')) {
    boxes = boxes.map((b) => ({ ...b, distance_m: distanceM({ lat, lng }, b) }))
      .filter((b) => b.distance_m <= radius)
      .sort((a, b) => a.distance_m - b.distance_m);
  }
  return boxes;
}

const LIMIT = 200;

function boxResults(boxes, center) {
  const shown = boxes.slice(0, LIMIT);
  return h('div', {},
    h('p', { id: 'box-count', text: t('boxes.found', { count: number(boxes.length) }) + (boxes.length > LIMIT ? ` ${t('boxes.limited', { limit: LIMIT })}` : '') }),
    shown.length ? drawMap(shown.map((b) => ({ ...b, href: `#/boxes/${encodeURIComponent(b.id)}`, label: b.name })), center) : null,
    table('boxes-table', [t('boxes.name'), t('boxes.integration'), t('boxes.position'), center ? t('boxes.distance') : ''],
      shown.map((b) => ({
        attrs: { 'data-box': b.id },
        cells: [h('a', { href: `#/boxes/${encodeURIComponent(b.id)}`, text: b.name || b.id }), b.integration,
          position(b), center ? `${number(Math.round(b.distance_m))} m` : ''],
      })), t('boxes.none')));
}

const position = (b) => (b.lat !== null && b.lat !== undefined ? `${b.lat.toFixed(5)}, ${b.lng.toFixed(5)}` : '—');

/** A port's state as the grid shows it: the local binding's (pending,
 * failed…) over the platform's (free, taken, blocked). */
export function portState(port) {
  const bound = port.binding && port.binding.state;
  if (bound === 'pending' || bound === 'confirmed' || bound === 'failed') return bound;
  return port.state;
}

function occupancy(ports) {
  const taken = ports.filter((p) => portState(p) !== 'free').length;
  return { taken, total: ports.length };
}

export async function box(id) {
  const found = await get(path`/boxes/${id}`);
  const service = found.splitters.filter((s) => s.service);
  const all = occupancy(service.flatMap((s) => s.ports));
  const bindPlace = h('div', { id: 'bind-panel', 'aria-live': 'polite' });
  return h('section', {},
    h('h1', { text: t('box.title', { name: found.name || found.id }) }),
    h('div', { class: 'card' }, facts([
      [t('boxes.integration'), found.integration],
      [t('boxes.position'), position(found)],
      [t('box.implanted'), found.implanted === undefined ? null : (found.implanted ? t('yes') : t('no'))],
      [t('box.occupancy'), h('span', { id: 'box-occupancy', text: t('occupancy', { taken: number(all.taken), total: number(all.total) }) })],
    ]), legend()),
    bindPlace,
    found.splitters.length ? found.splitters.map((s) => splitterGrid(s, bindPlace))
      : h('p', { class: 'empty', text: t('box.noSplitters') }));
}

function legend() {
  return h('ul', { class: 'legend', 'aria-label': t('legend') },
    ['free', 'taken', 'blocked', 'pending', 'confirmed', 'failed'].map((s) =>
      h('li', {}, h('span', { class: `swatch port-${s}`, 'aria-hidden': 'true' }), t(`port.${s}`))));
}

function splitterGrid(splitter, bindPlace) {
  const { taken, total } = occupancy(splitter.ports || []);
  return h('div', { class: 'card splitter', 'data-splitter': splitter.id, 'data-service': String(Boolean(splitter.service)) },
    h('h2', {}, splitter.name || splitter.id, ' ',
      h('span', { class: `badge ${splitter.service ? 'kind-service' : 'kind-distribution'}`, text: splitter.service ? t('splitter.service') : t('splitter.distribution') }),
      splitter.ratio ? h('span', { class: 'muted', text: ` ${splitter.ratio}` }) : null),
    h('p', { class: 'occupancy', text: t('occupancy', { taken: number(taken), total: number(total) }) }),
    splitter.service ? null : h('p', { class: 'hint', text: t('splitter.notOffered') }),
    h('ol', { class: 'ports' }, (splitter.ports || []).map((port) => portCell(splitter, port, bindPlace))));
}

function portCell(splitter, port, bindPlace) {
  const state = portState(port);
  const who = port.binding ? port.binding.service : port.client_code;
  const reason = port.binding && port.binding.reason;
  const label = [t('port.number', { port: port.port }), t(`port.${state}`), who, reason].filter(Boolean).join(' · ');
  const attrs = { class: `port port-${state}`, 'data-port': port.port, 'data-state': state, title: label, 'aria-label': label };
  const inside = [h('span', { class: 'number', text: port.port }),
    h('span', { class: 'state', text: t(`port.${state}`) }),
    who ? h('span', { class: 'who', text: who }) : null,
    reason ? h('span', { class: 'why', text: reason }) : null];
  if (state === 'free' && splitter.service) {
    return h('li', {}, h('button', { ...attrs, type: 'button', onclick: () => bindForm(splitter, port, bindPlace) }, inside));
  }
  if (port.binding) {
    return h('li', {}, h('a', { ...attrs, href: `#/services/${encodeURIComponent(port.binding.service)}` }, inside));
  }
  return h('li', {}, h('div', attrs, inside));
}

/** Bind the chosen free port to a service, chosen among those without a
 * binding. */
async function bindForm(splitter, port, place) {
  const [services, bindings] = await Promise.all([get('/services'), get('/bindings')]);
  const bound = new Set(bindings.map((b) => b.service));
  const options = h('datalist', { id: 'unbound-services' }, services.filter((s) => !bound.has(s.id_cliente_servico))
    .map((s) => h('option', { value: s.id_cliente_servico, text: s.name || '' })));
  const problem = h('p', { id: 'bind-error', class: 'error', role: 'alert' });
  const submit = h('button', { id: 'bind-submit', type: 'submit', text: t('bind.submit') });
  const form = h('form', { id: 'bind-form', class: 'card', novalidate: true },
    h('h2', { text: t('bind.title', { port: port.port, splitter: splitter.name || splitter.id }) }),
    field('service', t('bind.service'), { required: true, hint: t('bind.serviceHint'), attrs: { list: 'unbound-services' } }),
    options, problem,
    h('div', { class: 'inline' }, submit,
      h('button', { type: 'button', class: 'link', text: t('cancel'), onclick: () => fill(place) })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const service = form.elements.service.value.trim();
    showError(form, null, problem);
    if (!service) return showError(form, { field: 'service', message: t('required') }, problem);
    await busy(submit, async () => {
      try {
        await post('/bindings', { service, splitter: splitter.id, port: port.port });
        toast(t('bind.done', { service }));
        location.hash = `#/services/${encodeURIComponent(service)}`;
      } catch (error) {
        showError(form, error.field ? error : { field: 'service', message: error.message }, problem);
      }
    });
  });
  fill(place, form);
  form.elements.service.focus();
}

