// Matching review: services no platform client carries the code of, and
// platform clients without a usable code, paired with a score and its
// reasons; a person accepts (binds and pushes) or rejects each pair.
import { t, number } from '/console/i18n.js';
import { get, post, path } from '/console/api.js';
import { h, busy, toast } from '/console/dom.js';

export async function list() {
  const [suggestions, identification] = await Promise.all([get('/matches'), get('/identification')]);
  const counts = identification.counts || {};
  return h('section', {},
    h('h1', { text: t('matches.title') }),
    h('ul', { id: 'identification-counts', class: 'counts' },
      ['identified', 'clients_without_code', 'codes_without_service', 'services_without_client'].map((k) =>
        h('li', { 'data-count': k }, h('strong', { text: number(counts[k] || 0) }), ' ', t(`identification.${k}`)))),
    suggestions.length
      ? h('ol', { id: 'matches-list', class: 'matches' }, suggestions.map(card))
      : h('p', { id: 'matches-list', class: 'empty', text: t('matches.none') }));
}

function card(match) {
  const outcome = h('p', { class: 'outcome', 'aria-live': 'polite' });
  const accept = h('button', { type: 'button', class: 'accept', text: t('matches.accept') });
  const reject = h('button', { type: 'button', class: 'secondary reject', text: t('matches.reject') });
  const item = h('li', { class: 'card match', 'data-match': match.id },
    h('h2', {},
      h('a', { href: `#/services/${encodeURIComponent(match.service)}`, text: match.service }),
      match.service_name ? ` (${match.service_name})` : '', ' ↔ ', match.client_name || match.client),
    h('p', {}, h('meter', { min: 0, max: 1, value: match.score, 'aria-label': t('matches.score') }), ' ',
      t('matches.scoreIs', { score: number(Math.round(match.score * 100)) }),
      match.distance_m !== null && match.distance_m !== undefined ? ` · ${number(Math.round(match.distance_m))} m` : ''),
    h('ul', { class: 'reasons' }, (match.reasons || []).map((r) => h('li', { text: r }))),
    h('div', { class: 'inline' }, accept, reject), outcome);
  const decide = (button, verb) => busy(button, async () => {
    await post(path`/matches/${match.id}/${verb}`);
    toast(t(`matches.${verb}ed`));
    outcome.textContent = t(`matches.${verb}ed`);
    accept.remove();
    reject.remove();
    item.classList.add('decided');
  }, outcome);
  accept.addEventListener('click', () => decide(accept, 'accept'));
  reject.addEventListener('click', () => decide(reject, 'reject'));
  return item;
}
