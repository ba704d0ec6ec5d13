// The WebSocket the SDK runs on in this app (its `WebSocket` option): the browser's, made to
// follow the browser's online state. Browsers do not close an open WebSocket when the network
// goes away (nor does Chromium's offline emulation), so the SDK would notice only at its next
// heartbeat. Here, going offline ends the connection at once (the SDK then shows "reconnecting"
// and keeps sends in its outbox), and an attempt made while offline waits for the network to
// come back instead of failing into an ever longer backoff.

type Handler<E> = ((event: E) => void) | null;

export class OnlineAwareSocket {
  readyState = 0;
  onopen: Handler<unknown> = null;
  onmessage: Handler<{ data: unknown }> = null;
  onclose: Handler<{ code: number; reason: string }> = null;
  onerror: Handler<unknown> = null;

  private real: WebSocket | null = null;
  private type: BinaryType = 'arraybuffer';
  private readonly wentOffline = () => this.drop(1006, 'the browser went offline');
  private readonly cameOnline = () => this.open();

  constructor(private readonly url: string) {
    window.addEventListener('offline', this.wentOffline);
    if (navigator.onLine) this.open();
    else window.addEventListener('online', this.cameOnline, { once: true });
  }

  get binaryType(): BinaryType {
    return this.type;
  }

  set binaryType(value: BinaryType) {
    this.type = value;
    if (this.real) this.real.binaryType = value;
  }

  send(data: Parameters<WebSocket['send']>[0]): void {
    if (!this.real) throw new Error('not connected');
    this.real.send(data);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState === 3) return;
    if (this.real) {
      this.real.close(code, reason); // its close event finishes this one
      return;
    }
    this.finish(code ?? 1000, reason ?? '');
  }

  private open(): void {
    if (this.readyState === 3 || this.real) return;
    const real = new WebSocket(this.url);
    real.binaryType = this.type;
    real.onopen = (event) => {
      this.readyState = 1;
      this.onopen?.(event);
    };
    real.onmessage = (event) => this.onmessage?.({ data: event.data });
    real.onerror = (event) => this.onerror?.(event);
    real.onclose = (event) => this.finish(event.code, event.reason);
    this.real = real;
  }

  /** Gives the connection up now, as a dropped one (the SDK reconnects). */
  private drop(code: number, reason: string): void {
    if (this.readyState === 3) return;
    const real = this.real;
    if (real) {
      real.onopen = real.onmessage = real.onerror = real.onclose = null;
      try {
        real.close(1000, 'offline');
      } catch {
        // already closing
      }
    }
    this.finish(code, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.real = null;
    window.removeEventListener('offline', this.wentOffline);
    window.removeEventListener('online', this.cameOnline);
    // asynchronously, as a WebSocket reports it
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}
