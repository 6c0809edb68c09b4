// The console's shell: sign-in, language, and which screen the address
// (`#/...`) asks for. Each screen is a module that fills `#view`.
import { t, language, setLanguage, translatePage } from '/console/i18n.js';
import { session, accepts } from '/console/api.js';
import { h } from '/console/dom.js';
import * as integrations from '/console/integrations.js';
import * as network from '/console/network.js';
import * as services from '/console/services.js';
import * as matches from '/console/matches.js';

const view = document.getElementById('view');

/** Address patterns and their screens, first match wins. A screen is
 * given the pattern's parts, then `alive()`: whether it is still shown. */
const ROUTES = [
  [/^#\/integrations\/new$/, integrations.create],
  [/^#\/integrations\/([^/]+)$/, integrations.one],
  [/^#\/runs\/(\d+)$/, integrations.run],
  [/^#\/network$/, network.overview],
  [/^#\/boxes\/([^/]+)$/, network.box],
  [/^#\/services$/, services.list],
  [/^#\/services\/([^/]+)$/, services.one],
  [/^#\/matches$/, matches.list],
  [/^#\/integrations$/, integrations.list],
];

/** Bumped at each navigation: a screen still loading (or a sync being
 * followed) for an older address stops touching the page. */
export let generation = 0;

async function route() {
  generation += 1;
  const mine = generation;
  if (!session.token()) return signIn();
  document.getElementById('signin').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('signout').hidden = false;
  const hash = location.hash || '#/integrations';
  for (const link of document.querySelectorAll('#nav a')) {
    const current = hash.startsWith(link.getAttribute('href'))
      || (link.getAttribute('href') === '#/network' && hash.startsWith('#/boxes'));
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const found = ROUTES.map(([pattern, screen]) => [hash.match(pattern), screen]).find(([m]) => m);
  view.replaceChildren(h('p', { class: 'loading', text: t('loading') }));
  try {
    const screen = found
      ? await found[1](...found[0].slice(1).map(decodeURIComponent), () => mine === generation)
      : h('p', { class: 'error', text: t('error.noScreen') });
    if (mine !== generation) return;
    view.replaceChildren(screen);
    const heading = view.querySelector('h1');
    document.title = heading ? `${heading.textContent} · mapsync` : 'mapsync';
  } catch (error) {
    if (mine !== generation) return;
    view.replaceChildren(h('div', { class: 'card' },
      h('h1', { text: t('error.title') }),
      h('p', { id: 'screen-error', class: 'error', role: 'alert', text: error.message })));
  }
}

function signIn(message) {
  document.getElementById('nav').hidden = true;
  document.getElementById('signout').hidden = true;
  view.replaceChildren();
  const section = document.getElementById('signin');
  section.hidden = false;
  document.getElementById('signin-error').textContent = message || '';
  document.getElementById('signin-token').focus();
}

document.getElementById('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('signin-token');
  const place = document.getElementById('signin-error');
  const button = document.getElementById('signin-submit');
  const token = input.value.trim();
  if (!token) {
    place.textContent = t('signin.empty');
    input.setAttribute('aria-invalid', 'true');
    return;
  }
  button.disabled = true;
  place.textContent = '';
  try {
    if (await accepts(token)) {
      session.keep(token);
      input.value = '';
      input.removeAttribute('aria-invalid');
      await route();
    } else {
      place.textContent = t('signin.refused');
      input.setAttribute('aria-invalid', 'true');
      input.select();
    }
  } catch (error) {
    place.textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

document.getElementById('signout').addEventListener('click', () => {
  session.forget();
  location.hash = '';
  signIn();
});

session.onExpired = () => {
  session.forget();
  signIn(t('signin.expired'));
};

const chooser = document.getElementById('lang');
chooser.value = language();
chooser.addEventListener('change', () => {
  setLanguage(chooser.value);
  translatePage();
  if (session.token()) route();
});

translatePage();
window.addEventListener('hashchange', route);
route();
