// The app secret, shown once: right after the app is created or its secret rotated. It is held
// only by this element (never stored, never in the URL), so a reload no longer shows it.

import { h } from '../../shared/dom';

export function secretPanel(appId: string, secret: string, why: 'created' | 'rotated'): HTMLElement {
  const value = h('code', { class: 'secret-value', 'aria-label': 'App secret' }, secret);
  const copied = h('span', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const copy = h('button', { type: 'button' }, 'Copy secret');
  copy.addEventListener('click', () => {
    const done = () => (copied.textContent = 'Copied.');
    const fallback = () => {
      // Clipboard API refused (not a secure context, say): select the text for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents(value);
      const selection = getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    };
    if (navigator.clipboard) navigator.clipboard.writeText(secret).then(done, fallback);
    else fallback();
  });
  return h('section', { class: 'card secret', 'aria-labelledby': 'secret-heading' },
    h('h2', { id: 'secret-heading' }, why === 'created' ? 'Your new app’s secret' : 'The new secret'),
    h('p', { class: 'warning' },
      h('strong', {}, 'Shown only now. '),
      'Herald stores only a hash of it and cannot show it again. Copy it into your backend’s configuration; ',
      why === 'rotated' ? 'the previous secret no longer works.' : 'if you lose it, rotate it.',
    ),
    h('div', { class: 'secret-row' }, value, copy),
    copied,
    h('p', { class: 'muted small' },
      'Your backend sends it as ', h('code', {}, 'Authorization: Bearer <secret>'), ' on the ', h('code', {}, '/inner/*'),
      ' routes, for instance to mint client tokens with ', h('code', {}, 'POST /inner/get_token'),
      '. It never belongs in a browser or a mobile app. App id: ', h('code', {}, appId), '.',
    ),
  );
}

/** A secret handed from the view that received it to the app view it navigates to: kept in
 *  this variable only, and taken once. */
let handedOver: { appId: string; secret: string } | null = null;

export function handOverSecret(appId: string, secret: string): void {
  handedOver = { appId, secret };
}

export function takeSecret(appId: string): string | null {
  const found = handedOver && handedOver.appId === appId ? handedOver.secret : null;
  handedOver = null;
  return found;
}
