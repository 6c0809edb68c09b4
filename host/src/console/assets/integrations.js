// Integrations: the platform accounts, their connection test, the local
// project each feeds, syncs on demand with their progress, and their runs.
import { t, number, when } from '/console/i18n.js';
import { get, call, post, path, ApiError } from '/console/api.js';
import { h, fill, field, showError, busy, toast, table, badge, facts } from '/console/dom.js';

const KINDS = ['project', 'pole', 'box', 'splitter', 'client', 'property'];
const POLL_MS = 500;

export async function list() {
  const [all, status] = await Promise.all([get('/integrations'), get('/status')]);
  const planned = new Map(status.map((s) => [s.integration, s]));
  const rows = all.map((i) => {
    const s = planned.get(i.name) || {};
    const last = s.last_run;
    return {
      attrs: { 'data-integration': i.name },
      cells: [
        h('a', { href: `#/integrations/${encodeURIComponent(i.name)}`, text: i.name }),
        i.project || h('span', { class: 'muted', text: t('integration.unlinked') }),
        last ? [badge('run', last.outcome), ' ', h('a', { href: `#/runs/${last.id}`, text: when(last.started_at) })]
          : h('span', { class: 'muted', text: t('never') }),
        i.synchronising && s.next_run ? when(s.next_run)
          : h('span', { class: 'muted', title: i.not_synchronising_because ?? '', text: t('integration.notPlanned') }),
      ],
    };
  });
  return h('section', {},
    h('div', { class: 'heading' },
      h('h1', { text: t('integrations.title') }),
      h('a', { class: 'button', id: 'add-integration', href: '#/integrations/new', text: t('integrations.add') })),
    table('integrations-table',
      [t('integration.name'), t('integration.project'), t('integrations.lastRun'), t('integrations.nextRun')],
      rows, t('integrations.none')));
}

/** The account's settings, each with its hint; `editing` an existing one
 * leaves its name fixed and its secrets blank (blank keeps them). */
function settingsForm(editing) {
  const secret = editing ? t('integration.keep') : undefined;
  const fields = [
    editing ? null : field('name', t('integration.name'), { required: true, hint: t('hint.name') }),
    field('api_url', t('integration.api_url'), { type: 'url', required: true, value: editing?.api_url, hint: t('hint.api_url'), placeholder: 'https://suaempresa.ozmap.com.br' }),
    field('api_key', t('integration.api_key'), { type: 'password', required: !editing, placeholder: secret, hint: t('hint.api_key'), autocomplete: 'new-password' }),
    field('user', t('integration.user'), { required: true, value: editing?.user, hint: t('hint.user') }),
    field('password', t('integration.password'), { type: 'password', required: !editing, placeholder: secret, hint: t('hint.password'), autocomplete: 'new-password' }),
    field('project_name', t('integration.project_name'), { value: editing?.project_name, hint: t('hint.project_name') }),
    editing ? field('sync_time', t('integration.sync_time'), { value: editing.sync_time, hint: t('hint.sync_time'), placeholder: '04:00' }) : null,
  ];
  const problem = h('p', { id: 'form-error', class: 'error', role: 'alert' });
  const save = h('button', { id: 'integration-save', type: 'submit', text: editing ? t('save') : t('integrations.add') });
  const form = h('form', { id: 'integration-form', novalidate: true }, fields, problem, save);
  return { form, problem, save };
}

export async function create() {
  const { form, problem, save } = settingsForm(null);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = (name) => form.elements[name].value.trim();
    const body = {
      name: value('name'), api_url: value('api_url'), api_key: value('api_key'),
      user: value('user'), password: form.elements.password.value,
    };
    if (value('project_name')) body.project_name = value('project_name');
    showError(form, null, problem);
    const missing = ['name', 'api_url', 'api_key', 'user', 'password'].find((k) => !body[k]);
    if (missing) return showError(form, { field: missing, message: t('required') }, problem);
    await busy(save, async () => {
      try {
        const added = await post('/integrations', body);
        toast(t('integrations.added', { name: added.name }));
        location.hash = `#/integrations/${encodeURIComponent(added.name)}`;
      } catch (error) {
        showError(form, error, problem);
      }
    });
  });
  return h('section', { class: 'card narrow' }, h('h1', { text: t('integrations.new') }),
    h('p', { class: 'hint', text: t('integrations.newHint') }), form);
}

export async function one(name, alive) {
  const runsOf = () => get(path`/integrations/${name}/runs?limit=10`);
  const [integration, history, projects] = await Promise.all([get(path`/integrations/${name}`), runsOf(), get('/projects')]);
  const runs = h('div', { id: 'runs' }, runsTable(history));
  const refresh = async () => fill(runs, runsTable(await runsOf()));
  return h('section', {},
    h('h1', { text: integration.name }),
    h('div', { class: 'columns' },
      h('div', { class: 'card' }, h('h2', { text: t('integration.account') }), facts([
        [t('integration.api_url'), integration.api_url],
        [t('integration.user'), integration.user],
        [t('integration.api_key'), integration.api_key],
        [t('integration.password'), integration.password],
        [t('integration.project_name'), integration.project_name || t('integration.allProjects')],
        [t('integration.sync_time'), `${integration.sync_time} (America/Sao_Paulo)`],
        [t('integration.kinds'), integration.kinds.map((k) => t(`kind.${k}`)).join(', ')],
        [t('integration.refresh_every'), integration.refresh_every
          ? t('integration.refreshEvery', { minutes: integration.refresh_every })
          : t('integration.refreshOff')],
        [t('integration.last_fresh'), integration.last_fresh_at ? when(integration.last_fresh_at) : t('integration.neverFresh')],
      ]), testPanel(name)),
      h('div', { class: 'card' }, h('h2', { text: t('integration.project') }), linkPanel(integration, projects),
        h('h2', { text: t('sync.title') }), syncPanel(integration, alive, refresh))),
    h('div', { class: 'card' }, h('h2', { text: t('runs.title') }), runs),
    h('details', { class: 'card' }, h('summary', { text: t('integration.edit') }), editPanel(integration)));
}

function testPanel(name) {
  const result = h('div', { id: 'test-result', 'aria-live': 'polite' });
  const button = h('button', { id: 'test-connection', type: 'button', class: 'secondary', text: t('test.run') });
  button.addEventListener('click', () => busy(button, async () => {
    fill(result, h('p', { class: 'muted', text: t('test.running') }));
    try {
      const answer = await post(path`/integrations/${name}/test`);
      fill(result, 
        h('p', { id: 'test-outcome', class: answer.ok ? 'ok' : 'error', text: answer.ok ? t('test.ok') : t('test.failed') }),
        h('ol', { class: 'steps' }, answer.steps.map((s) => h('li', { class: `step ${s.ok ? 'ok' : 'failed'}` },
          h('strong', { text: `${s.ok ? '✓' : '✗'} ${t(`test.step.${s.step}`, {}, s.step)}` }), ' ', s.detail))));
    } catch (error) {
      fill(result, h('p', { id: 'test-outcome', class: 'error', role: 'alert', text: error.message }));
    }
  }));
  return h('div', { class: 'panel' }, button, result);
}

function linkPanel(integration, projects) {
  if (integration.project) {
    return h('div', { id: 'linked' },
      h('p', {}, t('link.feeds'), ' ', h('strong', { id: 'linked-project', text: integration.project })),
      h('p', { class: 'hint' }, t('link.removeHint'), ' ', h('a', { href: '#/network', text: t('nav.network') })));
  }
  const free = projects.filter((p) => !p.integration);
  const choice = h('select', { id: 'f-existing', name: 'existing' },
    h('option', { value: '', text: t('link.newProject') }),
    free.map((p) => h('option', { value: p.name, text: p.name })));
  const newName = field('new', t('link.newName'), { value: integration.name, hint: t('link.newHint') });
  choice.addEventListener('change', () => { newName.hidden = Boolean(choice.value); });
  const problem = h('p', { id: 'link-error', class: 'error', role: 'alert' });
  const submit = h('button', { id: 'link-submit', type: 'submit', text: t('link.submit') });
  const form = h('form', { id: 'link-form', novalidate: true },
    h('p', { class: 'hint', text: t('link.hint') }),
    h('div', { class: 'field' }, h('label', { for: 'f-existing', text: t('link.project') }), choice),
    newName, problem, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = choice.value ? { existing: choice.value } : { new: form.elements.new.value.trim() };
    showError(form, null, problem);
    if (body.new === '') return showError(form, { field: 'new', message: t('required') }, problem);
    await busy(submit, async () => {
      try {
        await post(path`/integrations/${integration.name}/link`, body);
        toast(t('link.done'));
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      } catch (error) {
        showError(form, error, problem);
      }
    });
  });
  return form;
}

function syncPanel(integration, alive, ended) {
  const place = h('div', { id: 'sync-status', 'aria-live': 'polite' });
  if (!integration.synchronising) {
    return h('p', { id: 'sync-unavailable', class: 'muted', text: t('sync.needsProject') });
  }
  const full = h('input', { id: 'sync-full', type: 'checkbox' });
  const button = h('button', { id: 'sync-now', type: 'button', text: t('sync.now') });
  button.addEventListener('click', () => busy(button, async () => {
    let runId;
    try {
      const started = await post(path`/integrations/${integration.name}/sync`, full.checked ? { full: true } : undefined);
      runId = started.run_id;
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'already_running' && error.progress)) {
        fill(place, h('p', { class: 'error', role: 'alert', text: error.message }));
        return;
      }
      runId = error.progress.run_id;
      toast(t('sync.alreadyRunning'));
    }
    await follow(runId, place, alive);
    if (alive()) await ended();
  }));
  return h('div', { class: 'panel' },
    h('div', { class: 'inline' }, button,
      h('label', { class: 'check' }, full, ' ', t('sync.full'))),
    place);
}

/** Poll the run until it ends, showing what it has read so far. */
async function follow(runId, place, alive) {
  for (;;) {
    const run = await get(`/runs/${runId}`);
    if (!alive()) return;
    if (run.outcome !== 'running') {
      fill(place, 
        h('p', { id: 'sync-result', 'data-outcome': run.outcome }, badge('run', run.outcome), ' ',
          h('a', { href: `#/runs/${run.id}`, text: t('sync.details') })),
        run.error ? h('p', { class: 'error', text: run.error }) : null,
        run.report ? countsTable(run.report) : null);
      return;
    }
    const p = run.progress || {};
    const read = Object.values(p.read || {}).reduce((a, b) => a + b, 0);
    fill(place, 
      h('p', { id: 'sync-progress' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ',
        p.kind ? t('sync.reading', { kind: t(`kind.${p.kind}`) }) : t('sync.starting'), ' ',
        t('sync.read', { count: number(read), pages: number(p.pages || 0) })),
      h('progress', { max: KINDS.length, value: (p.completed || []).length, 'aria-label': t('sync.title') }));
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
}

function countsTable(report) {
  const kinds = KINDS.filter((k) => report.kinds && report.kinds[k]);
  const columns = ['created', 'updated', 'removed', 'unchanged', 'kept', 'invalid'];
  return table('run-counts', [t('run.kind'), ...columns.map((c) => t(`run.${c}`))],
    kinds.map((k) => ({
      attrs: { 'data-kind': k },
      cells: [t(`kind.${k}`), ...columns.map((c) => number(report.kinds[k][c] || 0))],
    })), t('run.noCounts'));
}

function runsTable(history) {
  return table('runs-table', [t('run.started'), t('run.trigger'), t('run.outcome'), t('run.read')],
    history.map((run) => {
      const kinds = run.report ? Object.values(run.report.kinds || {}) : [];
      const total = (k) => kinds.reduce((sum, c) => sum + (c[k] || 0), 0);
      return {
        attrs: { 'data-run': run.id },
        cells: [
          h('a', { href: `#/runs/${run.id}`, text: when(run.started_at) }),
          t(`trigger.${run.trigger}`, {}, run.trigger),
          badge('run', run.outcome),
          run.report ? t('run.summary', {
            created: number(total('created')), updated: number(total('updated')),
            removed: number(total('removed')), invalid: number(total('invalid')),
          }) : '',
        ],
      };
    }), t('runs.none'));
}

export async function run(id) {
  const found = await get(`/runs/${id}`);
  const report = found.report || {};
  const invalid = report.invalid || [];
  return h('section', {},
    h('h1', {}, t('run.title', { id: found.id }), ' ', badge('run', found.outcome)),
    h('div', { class: 'card' }, facts([
      [t('integration.name'), h('a', { href: `#/integrations/${encodeURIComponent(found.integration)}`, text: found.integration })],
      [t('run.trigger'), t(`trigger.${found.trigger}`, {}, found.trigger)],
      [t('run.started'), when(found.started_at)],
      [t('run.ended'), found.ended_at ? when(found.ended_at) : null],
      [t('run.full'), report.full_reason || null],
      [t('run.error'), found.error],
    ]), found.report ? countsTable(found.report) : null),
    report.held_removals && report.held_removals.length
      ? h('div', { class: 'card' }, h('h2', { text: t('run.held') }),
        h('ul', {}, report.held_removals.map((held) => h('li', { text: JSON.stringify(held) }))))
      : null,
    h('div', { class: 'card' }, h('h2', { text: t('run.invalidTitle', { count: number(invalid.length) }) }),
      table('invalid-table', [t('run.kind'), 'id', t('run.reason')],
        invalid.map((r) => [t(`kind.${r.kind}`, {}, r.kind), r.id || '—', r.reason]), t('run.noInvalid'))));
}

function editPanel(integration) {
  const { form, problem, save } = settingsForm(integration);
  form.id = 'edit-form';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const change = {};
    for (const name of ['api_url', 'api_key', 'user', 'password', 'sync_time']) {
      const value = form.elements[name].value.trim();
      if (value && value !== (integration[name] || '')) change[name] = value;
    }
    const project = form.elements.project_name.value.trim();
    if (project !== (integration.project_name || '')) change.project_name = project || null;
    showError(form, null, problem);
    if (!Object.keys(change).length) return showError(form, { message: t('edit.nothing') }, problem);
    await busy(save, async () => {
      try {
        await call('PATCH', path`/integrations/${integration.name}`, change);
        toast(t('edit.saved'));
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      } catch (error) {
        showError(form, error, problem);
      }
    });
  });
  return form;
}
