// Services: the management system's customer services, imported from its
// export; each service's binding to a port, from the nearest viable boxes
// to the push of its data to the platform, with the audit trail.
import { t, number, when } from '/console/i18n.js';
import { get, call, post, path } from '/console/api.js';
import { h, fill, busy, toast, table, badge, facts } from '/console/dom.js';
import { drawMap } from '/console/map.js';
import { portState } from '/console/network.js';

export async function list() {
  const [services, bindings] = await Promise.all([get('/services'), get('/bindings')]);
  const states = new Map(bindings.map((b) => [b.service, b.state]));
  const body = h('div', { id: 'services-list' });
  const search = h('input', { id: 'services-search', type: 'search', placeholder: t('services.searchHint'), 'aria-label': t('services.search') });
  const render = () => {
    const needle = search.value.trim().toLowerCase();
    const found = services.filter((s) => !needle || [s.id_cliente_servico, s.name, s.pppoe_login, s.onu_serial, s.document]
      .some((v) => v && v.toLowerCase().includes(needle)));
    fill(body, 
      h('p', { class: 'muted', text: t('services.count', { shown: number(found.length), total: number(services.length) }) }),
      table('services-table', ['id_cliente_servico', t('service.name'), t('service.pppoe_login'), t('service.platform'), t('service.binding')],
        found.slice(0, 500).map((s) => ({
          attrs: { 'data-service': s.id_cliente_servico },
          cells: [
            h('a', { href: `#/services/${encodeURIComponent(s.id_cliente_servico)}`, text: s.id_cliente_servico }),
            s.name || '', s.pppoe_login || '',
            s.platform_client_id ? t('service.identified') : h('span', { class: 'muted', text: t('service.notIdentified') }),
            states.has(s.id_cliente_servico) ? badge('binding', states.get(s.id_cliente_servico)) : '',
          ],
        })), t('services.none')));
  };
  search.addEventListener('input', render);
  render();
  return h('section', {},
    h('h1', { text: t('services.title') }),
    h('div', { class: 'card' }, h('h2', { text: t('import.title') }), importForm()),
    h('div', { class: 'card' }, h('h2', { text: t('services.list') }), search, body));
}

/** A file with any bad line is refused whole; each bad line is listed. */
function importForm() {
  const file = h('input', { id: 'import-file', type: 'file', accept: '.csv,.json,text/csv,application/json', 'aria-describedby': 'import-hint' });
  const submit = h('button', { id: 'import-submit', type: 'submit', text: t('import.submit') });
  const result = h('div', { id: 'import-result', 'aria-live': 'polite' });
  const form = h('form', { id: 'import-form', novalidate: true },
    h('label', { for: 'import-file', text: t('import.file') }), file,
    h('p', { id: 'import-hint', class: 'hint', text: t('import.hint') }),
    submit, result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) {
      fill(result, h('p', { class: 'error', role: 'alert', text: t('import.choose') }));
      return;
    }
    const type = /\.json$/i.test(chosen.name) ? 'application/json' : 'text/csv';
    await busy(submit, async () => {
      try {
        const text = await chosen.text();
        const { data } = await call('POST', '/services/import', text, type);
        fill(result, h('p', { id: 'import-done', class: 'ok', text: t('import.done', {
          created: number(data.created), updated: number(data.updated), unchanged: number(data.unchanged) }) }));
        toast(t('import.toast'));
        setTimeout(() => window.dispatchEvent(new HashChangeEvent('hashchange')), 1500);
      } catch (error) {
        fill(result, 
          h('p', { id: 'import-refused', class: 'error', role: 'alert', text: t('import.refused') }),
          h('p', { class: 'muted', text: error.message }),
          error.rows ? h('ul', { id: 'import-errors' }, error.rows.map((row) => {
            const line = (row.at || '').match(/^line (\d+)$/);
            return h('li', { 'data-line': line ? line[1] : null },
              h('strong', { text: line ? t('import.line', { line: line[1] }) : (row.at || '') }), ' ', row.reason);
          })) : null);
      }
    });
  });
  return form;
}

export async function one(id, alive) {
  const service = await get(path`/services/${id}`);
  const binding = await get(path`/bindings/${id}`).catch((e) => { if (e.status === 404) return null; throw e; });
  const outcome = h('div', { id: 'push-outcome', 'aria-live': 'polite' });
  const panel = h('div', { id: 'binding-panel' });
  const trail = h('div', { id: 'binding-trail' });
  // The binding as it stands, drawn again when a push answers.
  const draw = (now) => {
    fill(panel, bindingPanel(service, now, outcome, draw));
    if (now) fill(trail, history(now.history || []));
  };
  draw(binding);
  return h('section', {},
    h('h1', { text: t('service.title', { id: service.id_cliente_servico }) }),
    h('div', { class: 'columns' },
      h('div', { class: 'card' }, h('h2', { text: t('service.data') }), facts([
        [t('service.name'), service.name],
        [t('service.document'), service.document],
        [t('service.address'), service.address],
        [t('boxes.position'), service.lat !== null && service.lat !== undefined ? `${service.lat}, ${service.lng}` : null],
        [t('service.pppoe_login'), service.pppoe_login],
        [t('service.onu_serial'), service.onu_serial],
        [t('service.onu_mac'), service.onu_mac],
        [t('service.status'), service.status],
        [t('service.platform'), service.platform_client_id || t('service.notIdentified')],
      ])),
      h('div', { class: 'card' }, h('h2', { text: t('service.binding') }), panel, outcome)),
    !binding || binding.state === 'failed' ? choosePort(service, binding, alive) : null,
    binding ? h('div', { class: 'card' }, h('h2', { text: t('history.title') }), trail) : null);
}

function bindingPanel(service, binding, outcome, draw) {
  if (!binding) return h('p', { id: 'binding-state', 'data-state': 'none', class: 'muted', text: t('binding.none') });
  const actions = [];
  if (['pending', 'failed', 'confirmed'].includes(binding.state)) {
    const confirm = h('button', { id: 'confirm-binding', type: 'button', text: binding.state === 'confirmed' ? t('binding.retry') : t('binding.confirm') });
    confirm.addEventListener('click', () => busy(confirm, async () => {
      const { status, data } = await call('POST', path`/bindings/${service.id_cliente_servico}/confirm`);
      draw(data);
      showOutcome(outcome, status, data);
    }, outcome));
    actions.push(confirm);
  }
  const unbind = h('button', { id: 'unbind', type: 'button', class: 'danger', text: t('binding.unbind') });
  let armed = false;
  unbind.addEventListener('click', () => {
    if (!armed) {
      armed = true;
      unbind.textContent = t('binding.unbindConfirm');
      return;
    }
    busy(unbind, async () => {
      const { data } = await call('DELETE', path`/bindings/${service.id_cliente_servico}`);
      fill(outcome, h('p', { id: 'unbind-outcome', class: data.unbound ? 'ok' : 'warn',
        text: data.unbound ? t('binding.unbound') : t('binding.unbindQueued') }));
      toast(data.unbound ? t('binding.unbound') : t('binding.unbindQueued'));
      setTimeout(() => window.dispatchEvent(new HashChangeEvent('hashchange')), 1200);
    }, outcome);
  });
  actions.push(unbind);
  return h('div', {},
    h('p', {}, h('span', { id: 'binding-state', 'data-state': binding.state }, badge('binding', binding.state))),
    facts([
      [t('binding.box'), binding.box ? h('a', { id: 'binding-box', href: `#/boxes/${encodeURIComponent(binding.box)}`, text: binding.box }) : null],
      [t('binding.splitter'), binding.splitter],
      [t('binding.port'), String(binding.port)],
      [t('binding.reason'), binding.reason],
      [t('binding.client'), binding.platform_client],
      [t('binding.property'), binding.platform_property],
      [t('binding.updated'), when(binding.updated_at)],
    ]),
    h('div', { class: 'inline' }, actions));
}

/** The push's answer: pushed or failed are final; 202 means the platform
 * could not be reached and the push waits in the outbox. */
function showOutcome(place, status, binding) {
  const state = status === 202 ? 'queued' : binding.state;
  fill(place, h('p', { id: 'push-result', 'data-state': state, class: state === 'pushed' ? 'ok' : (state === 'failed' ? 'error' : 'warn') },
    t(`push.${state}`, {}, state), binding.reason ? ` ${binding.reason}` : ''));
}

function history(events) {
  return h('ol', { id: 'history', class: 'history' }, events.map((e) =>
    h('li', { 'data-state': e.state }, h('time', { datetime: e.at, text: when(e.at) }), ' ', badge('binding', e.state), e.detail ? ` ${e.detail}` : '')));
}

const RADII = [500, 1000, 2000, 5000];

/** The viable boxes nearest the service (free ports on service splitters),
 * or, without coordinates, a box found by name; then a free port. */
function choosePort(service, binding, alive) {
  const place = h('div', { id: 'nearby', 'aria-live': 'polite' });
  const ports = h('div', { id: 'free-ports', 'aria-live': 'polite' });
  const card = h('div', { class: 'card' }, h('h2', { text: binding ? t('bind.again') : t('bind.choose') }));
  const located = service.lat !== null && service.lat !== undefined;
  if (located) {
    const radius = h('select', { id: 'nearby-radius', 'aria-label': t('bind.radius') },
      RADII.map((r) => h('option', { value: r, text: `${number(r)} m`, selected: r === 1000 })));
    const load = async () => {
      fill(place, h('p', { class: 'muted', text: t('loading') }));
      try {
        const boxes = await get(`/ports/free?lat=${service.lat}&lng=${service.lng}&radius=${radius.value}`);
        if (!alive()) return;
        fill(place, nearbyList(service, boxes, ports, binding));
      } catch (error) {
        fill(place, h('p', { class: 'error', role: 'alert', text: error.message }));
      }
    };
    radius.addEventListener('change', load);
    card.append(h('div', { class: 'inline' }, h('label', { for: 'nearby-radius', text: t('bind.radius') }), radius), place, ports);
    load();
  } else {
    const name = h('input', { id: 'bind-box-name', type: 'search', placeholder: 'CTO-0001', 'aria-label': t('boxes.byName') });
    const find = h('button', { id: 'bind-box-search', type: 'button', class: 'secondary', text: t('boxes.search') });
    find.addEventListener('click', () => busy(find, async () => {
      const boxes = await get(`/boxes?name=${encodeURIComponent(name.value.trim())}`);
      fill(place, h('ul', { class: 'choices' }, boxes.slice(0, 50).map((b) => h('li', { 'data-box': b.id },
        h('button', { type: 'button', class: 'link', text: b.name || b.id, onclick: () => freePortsOf(service, b.id, ports, binding) })))));
    }, place));
    card.append(h('p', { class: 'hint', text: t('bind.noPosition') }), h('div', { class: 'inline' }, name, find), place, ports);
  }
  return card;
}

function nearbyList(service, boxes, ports, binding) {
  if (!boxes.length) return h('p', { class: 'empty', text: t('bind.noneNear') });
  return h('div', { class: 'split' },
    h('ol', { class: 'choices' }, boxes.map((b) => h('li', { 'data-box': b.id },
      h('button', { type: 'button', class: 'link', onclick: () => freePortsOf(service, b.id, ports, binding) },
        h('strong', { text: b.name || b.id })),
      ' ', t('bind.near', { distance: number(Math.round(b.distance_m)), free: number(b.free_ports.length) })))),
    drawMap(boxes.map((b) => ({ ...b, label: `${b.name} · ${number(Math.round(b.distance_m))} m` })),
      { lat: service.lat, lng: service.lng, label: service.id_cliente_servico }));
}

async function freePortsOf(service, boxId, place, binding) {
  fill(place, h('p', { class: 'muted', text: t('loading') }));
  const found = await get(path`/boxes/${boxId}`);
  const splitters = found.splitters.filter((s) => s.service);
  fill(place, h('h3', { text: t('box.title', { name: found.name || found.id }) }),
    splitters.map((s) => h('div', { class: 'splitter', 'data-splitter': s.id },
      h('p', { text: `${s.name || s.id} ${s.ratio || ''}` }),
      h('ol', { class: 'ports' }, s.ports.filter((p) => portState(p) === 'free').map((p) => h('li', {},
        h('button', { type: 'button', class: 'port port-free', 'data-port': p.port, 'data-state': 'free',
          'aria-label': t('port.number', { port: p.port }), text: p.port,
          onclick: (event) => busy(event.currentTarget, async () => {
            await post('/bindings', { service: service.id_cliente_servico, splitter: s.id, port: p.port, move: Boolean(binding) });
            toast(t('bind.done', { service: service.id_cliente_servico }));
            window.dispatchEvent(new HashChangeEvent('hashchange'));
          }) })))))));
}
