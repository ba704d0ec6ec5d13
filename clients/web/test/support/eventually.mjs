// Retries a check until it passes or the time is up, then fails with the last reason: the
// tests wait for a condition, never for a fixed time.
export async function eventually(check, { timeout = 10_000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${last?.message ?? last}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
