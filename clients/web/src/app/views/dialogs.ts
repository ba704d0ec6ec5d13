// The small forms that open over the chat: a new 1:1 chat, a new group, inviting members.

import { field, h, onSubmit, statusLine } from '../../shared/dom';
import { describe, names } from '../format';

let counter = 0;

/** A modal form; closes when `run` succeeds, shows its error otherwise. */
function formDialog(title: string, fields: HTMLElement[], submit: string, run: () => Promise<void>): void {
  const id = `dialog-${++counter}`;
  const status = statusLine();
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': id });
  const form = h('form', { class: 'dialog-form' },
    h('h2', { id }, title),
    ...fields,
    status.el,
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', class: 'primary' }, submit),
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
    ),
  );
  dialog.append(form);
  dialog.addEventListener('close', () => dialog.remove());
  onSubmit(form, async () => {
    try {
      await run();
      dialog.close();
    } catch (error) {
      status.error(describe(error));
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  form.querySelector('input')?.focus();
}

const text = (name: string) => h('input', { type: 'text', name, maxlength: 1000, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });

export function newChatDialog(me: string, start: (peer: string) => Promise<void>): void {
  const peer = text('peer');
  peer.required = true;
  formDialog('New chat', [field('User name', peer, 'Anyone of this app; the app may require friendship to send.')], 'Start chat', async () => {
    const [who] = names(peer.value, me);
    if (!who) throw new Error('Enter the user name of someone else.');
    await start(who);
  });
}

export function newGroupDialog(me: string, friends: string[], create: (name: string, members: string[]) => Promise<void>): void {
  const name = text('name');
  name.required = true;
  name.maxLength = 128;
  const others = text('members');
  const boxes = friends.map((f) => h('input', { type: 'checkbox', name: 'friend', value: f }));
  const picks = boxes.length === 0 ? null : h('fieldset', { class: 'picks' },
    h('legend', {}, 'Friends'),
    boxes.map((box) => h('label', { class: 'check' }, box, h('span', {}, box.value))),
  );
  formDialog('New group', [field('Group name', name), picks ?? h('span'), field('Members', others, 'User names, separated by commas or spaces.')], 'Create group', async () => {
    const members = names([...boxes.filter((b) => b.checked).map((b) => b.value), others.value].join(' '), me);
    if (members.length === 0) throw new Error('Add at least one member.');
    await create(name.value.trim(), members);
  });
}

export function inviteDialog(me: string, title: string, invite: (members: string[]) => Promise<void>): void {
  const who = text('invite');
  who.required = true;
  formDialog(`Invite to ${title}`, [field('User names to invite', who, 'Separated by commas or spaces.')], 'Invite', async () => {
    const members = names(who.value, me);
    if (members.length === 0) throw new Error('Enter at least one user name.');
    await invite(members);
  });
}
