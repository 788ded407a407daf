/**
 * Polls `condition` every 100 ms until it holds or `timeoutMs` passes; returns whether it held.
 * For waiting on the proxy's own state (jobs draining, files appearing), never on a fixed sleep.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}
