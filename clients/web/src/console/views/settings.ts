// The app settings form (`GET` / `PUT /console/app/{id}/settings`, protocol §6). Every field
// is sent on save; the server checks the ranges and its error is shown as it is.

import { api, type Settings } from '../api';
import { describeError } from '../../shared/http';
import { field, h, onSubmit, statusLine } from '../../shared/dom';

export function settingsForm(appId: string, initial: Settings, onSaved: (s: Settings) => void): HTMLElement {
  const policy = h('select', { name: 'login_policy' },
    h('option', { value: 'multi' }, 'multi: every device stays connected'),
    h('option', { value: 'kick' }, 'kick: a new login on the same platform closes the older one'),
  );
  const friendship = h('input', { type: 'checkbox', name: 'require_friendship' });
  const accounts = h('input', { type: 'checkbox', name: 'end_user_accounts' });
  const number = (name: string, min: number, max: number, step: string) =>
    h('input', { type: 'number', name, min, max, step, required: true, inputmode: step === 'any' ? 'decimal' : 'numeric' });
  const spam = number('spam_unanswered_limit', 0, 10000, '1');
  const rate = number('send_rate_per_sec', 0, 10000, 'any');
  const burst = number('send_burst', 1, 100000, '1');
  const members = number('max_members', 2, 1000000, '1');
  const status = statusLine();

  const fill = (s: Settings) => {
    policy.value = s.login_policy;
    friendship.checked = s.require_friendship;
    accounts.checked = s.end_user_accounts;
    spam.value = String(s.spam_unanswered_limit);
    rate.value = String(s.send_rate_per_sec);
    burst.value = String(s.send_burst);
    members.value = String(s.max_members);
  };
  fill(initial);

  const check = (label: string, box: HTMLInputElement, hint: string) =>
    h('label', { class: 'check' }, box, h('span', {}, h('span', { class: 'field-label' }, label), h('small', { class: 'hint' }, hint)));

  const form = h('form', { class: 'card settings', 'aria-labelledby': 'settings-heading' },
    h('h2', { id: 'settings-heading' }, 'Settings'),
    h('p', { class: 'muted small' }, 'Changes apply within seconds on every gateway.'),
    h('fieldset', {},
      h('legend', {}, 'Accounts and logins'),
      check('End-user accounts', accounts, 'Opens /user/register and /user/login for this app, for apps without their own user system. Off by default.'),
      field('Login policy', policy, 'What happens when the same user connects again from the same platform.'),
    ),
    h('fieldset', {},
      h('legend', {}, 'Anti-spam'),
      check('Require friendship', friendship, '1:1 messages between non-friends are refused (code 1003).'),
      field('Unanswered message limit', spam, 'Messages to a 1:1 peer who never answered; 0 turns the rule off.'),
    ),
    h('fieldset', {},
      h('legend', {}, 'Rates and sizes'),
      h('div', { class: 'grid2' },
        field('Send rate per second', rate, 'Per session; 0 = unlimited.'),
        field('Send burst', burst, 'Messages allowed at once above the rate.'),
      ),
      field('Most members per conversation', members),
    ),
    status.el,
    h('button', { type: 'submit', class: 'primary' }, 'Save settings'),
  );

  onSubmit(form, async () => {
    status.info('Saving…');
    const settings: Settings = {
      login_policy: policy.value === 'kick' ? 'kick' : 'multi',
      require_friendship: friendship.checked,
      spam_unanswered_limit: Number(spam.value),
      send_rate_per_sec: Number(rate.value),
      send_burst: Number(burst.value),
      end_user_accounts: accounts.checked,
      max_members: Number(members.value),
    };
    try {
      const saved = await api.saveSettings(appId, settings);
      fill(saved);
      status.info('Saved.');
      onSaved(saved);
    } catch (error) {
      status.error(describeError(error));
    }
  });
  return form;
}
