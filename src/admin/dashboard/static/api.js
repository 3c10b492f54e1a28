/* global fetch, sessionStorage, localStorage, document */
// Talking to the admin API: reads need no token on a loopback admin; actions always ask
// for the token in a dialog (kept in sessionStorage only when the user ticks "remember for
// this tab"), and for the name recorded as the change's author (kept in localStorage),
// confirm, and report the result. Every action sends JSON and X-Fulcrum-Request, which the
// admin requires of mutating calls: a page of another origin cannot send them unasked.
import { h, mount } from './dom.js';

const TOKEN_KEY = 'fulcrum.adminToken';
const AUTHOR_KEY = 'fulcrum.author';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Token for reads, set when the admin refuses reads without one (an admin off loopback). */
let readToken = sessionStorage.getItem(TOKEN_KEY) ?? undefined;

export async function request(method, path, { body, token, author } = {}) {
  const headers = { accept: 'application/json' };
  const bearer = token ?? readToken;
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') {
    headers['x-fulcrum-request'] = '1';
    headers['x-fulcrum-author'] = encodeURIComponent(author || 'dashboard');
  }
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(res.status, 'FULCRUM_ERR_ADMIN_BAD_RESPONSE', `unexpected answer from ${path}`);
  }
  if (!res.ok) {
    const e = json.error ?? {};
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? res.statusText, e.details);
  }
  return json;
}

export const get = (path) => request('GET', path);

/** Reads answered 401: ask once for a token to read with. */
export async function askReadToken() {
  const t = await ask({
    title: 'Admin token needed to read',
    text: 'This admin server is not on loopback, so reads need the admin token too.',
    confirm: 'Use token',
  });
  if (t === undefined) return false;
  readToken = t.token;
  if (t.remember) sessionStorage.setItem(TOKEN_KEY, t.token);
  return true;
}

/**
 * Run an action: confirm (with the token field), POST, show the result in `resultEl`.
 * Returns the JSON answer, or undefined when cancelled or refused.
 */
export async function act({ title, text, confirm, method = 'POST', path, body, resultEl, describe }) {
  const remembered = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  const answer = await ask({ title, text, confirm, remembered });
  if (answer === undefined) return undefined;
  if (answer.remember) sessionStorage.setItem(TOKEN_KEY, answer.token);
  if (answer.author) localStorage.setItem(AUTHOR_KEY, answer.author);
  mount(resultEl, h('p', { class: 'result pending', text: `${title}: working…` }));
  try {
    const json = await request(method, path, {
      body,
      token: answer.token,
      author: answer.author && `${answer.author} (dashboard)`,
    });
    mount(resultEl, h('p', { class: 'result ok', role: 'status', text: `✓ ${describe(json)}` }));
    return json;
  } catch (err) {
    // A refused token is forgotten so the next attempt asks again.
    if (err instanceof ApiError && err.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    mount(
      resultEl,
      h(
        'p',
        { class: 'result error', role: 'alert' },
        `✕ ${title} failed: ${err.message}`,
        err.code ? h('code', { text: ` ${err.code}` }) : null,
      ),
    );
    return undefined;
  }
}

/** The one dialog: what will happen, the token field; resolves {token, remember} or undefined. */
function ask({ title, text, confirm, remembered }) {
  const dialog = document.getElementById('action-dialog');
  const input = h('input', {
    type: 'password',
    id: 'token-input',
    name: 'token',
    autocomplete: 'off',
    required: !remembered,
    placeholder: remembered ? 'remembered for this tab' : '',
  });
  const remember = h('input', { type: 'checkbox', id: 'token-remember', name: 'remember' });
  const author = h('input', {
    type: 'text',
    id: 'author-input',
    name: 'author',
    autocomplete: 'username',
    maxlength: '100',
    value: localStorage.getItem(AUTHOR_KEY) ?? '',
    placeholder: 'recorded in the config history',
  });
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { id: 'action-title', text: title }),
    h('p', { class: 'dialog-text', text }),
    h(
      'div',
      { class: 'token-fields' },
      h('label', { for: 'token-input', text: 'Admin token' }),
      input,
      h('label', { class: 'check' }, remember, ' remember for this tab'),
      h('label', { for: 'author-input', text: 'Your name' }),
      author,
      remembered
        ? h('p', { class: 'muted', text: 'Leave empty to use the token remembered for this tab.' })
        : null,
    ),
    h(
      'div',
      { class: 'dialog-buttons' },
      h(
        'button',
        { type: 'button', value: 'cancel', class: 'secondary', onclick: () => dialog.close('cancel') },
        'Cancel',
      ),
      h('button', { type: 'submit', value: 'ok', id: 'action-confirm' }, confirm),
    ),
  );
  mount(dialog, form);
  dialog.setAttribute('aria-labelledby', 'action-title');
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        if (dialog.returnValue !== 'ok') return resolve(undefined);
        const token = input.value.trim() || remembered;
        resolve({
          token,
          author: author.value.trim(),
          remember: remember.checked || (remembered !== undefined && !input.value.trim()),
        });
      },
      { once: true },
    );
    dialog.returnValue = '';
    dialog.showModal();
    (remembered ? document.getElementById('action-confirm') : input).focus();
  });
}
