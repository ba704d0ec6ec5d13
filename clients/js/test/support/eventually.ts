/**
 * `eventually`: polls a condition until it holds or a deadline passes — instead of sleeping and
 * hoping. A condition that throws fails at once (it is an error, not "not yet").
 */

export async function eventually(
  condition: () => boolean | Promise<boolean>,
  options: { what: string; timeoutMs?: number; everyMs?: number; detail?: () => string },
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) {
      const detail = options.detail ? `: ${options.detail()}` : "";
      throw new Error(`timed out waiting until ${options.what}${detail}`);
    }
    await new Promise((done) => setTimeout(done, options.everyMs ?? 20));
  }
}
