// The HTTP envelope of protocol §2: `{"code": 0, "data": ...}` on success, `{"code", "error"}`
// on failure. Every route's failure becomes an ApiError whose message is shown as it is.

/** A refused request: Herald's numeric code, the HTTP status and the server's own words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** "Error 10006 (409): this email is registered", as shown to the user. */
  describe(): string {
    const wait = this.retryAfter === null ? '' : ` Try again in ${this.retryAfter} s.`;
    if (this.code === 0) return `${this.message}${wait}`;
    return `Error ${this.code} (${this.status}): ${this.message}${wait}`;
  }
}

interface Envelope {
  code?: unknown;
  data?: unknown;
  error?: unknown;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  token?: string | null;
  body?: unknown;
}

/** Calls a JSON route and returns its `data`, or throws an ApiError. */
export async function call<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  const init: RequestInit = { method: options.method ?? 'GET', headers, cache: 'no-store' };
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 0, 'The server cannot be reached. Check that Herald is running.');
  }
  const text = await response.text();
  let envelope: Envelope | null;
  try {
    envelope = text === '' ? null : (JSON.parse(text) as Envelope | null);
  } catch {
    envelope = null;
  }
  if (response.ok && envelope && envelope.code === 0) return envelope.data as T;
  const retry = Number(response.headers.get('retry-after'));
  const code = typeof envelope?.code === 'number' ? envelope.code : 0;
  const message =
    typeof envelope?.error === 'string' && envelope.error !== ''
      ? envelope.error
      : `the server answered ${response.status} ${response.statusText}`.trim();
  throw new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** The text to show for any failure. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.describe();
  if (error instanceof Error) return error.message;
  return String(error);
}
