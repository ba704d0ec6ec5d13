// A tiny element builder: the pages build their DOM from code (never from HTML strings, so
// nothing a server or user sends can become markup) and style it only through classes.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** `h('button', {class: 'primary', onclick: f}, 'Save')` */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') {
      el.addEventListener(name.replace(/^on/, ''), value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

/** SVG elements need their namespace. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
): SVGElementTagNameMap[K] {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  return el;
}

export function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces everything inside `parent`. */
export function replace(parent: Element, ...children: (Child | Child[])[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A labelled form field: label text, then the control; the label wraps it, so getByLabel finds it. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

/** A status line that screen readers announce: errors as alerts, the rest politely. */
export function statusLine(): { el: HTMLElement; error(text: string): void; info(text: string): void; clear(): void } {
  const el = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  return {
    el,
    error(text) {
      el.className = 'status error';
      el.setAttribute('role', 'alert');
      el.textContent = text;
    },
    info(text) {
      el.className = 'status info';
      el.setAttribute('role', 'status');
      el.textContent = text;
    },
    clear() {
      el.className = 'status';
      el.textContent = '';
    },
  };
}

/** Runs an async form handler: never lets the browser submit (CSP form-action 'none'), and
 *  disables the submit button while the request runs. */
export function onSubmit(form: HTMLFormElement, handler: (data: FormData) => Promise<void>): void {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll<HTMLButtonElement>('button[type=submit]')];
    for (const b of buttons) b.disabled = true;
    void handler(new FormData(form)).finally(() => {
      for (const b of buttons) b.disabled = false;
    });
  });
}
