import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium, installed by scripts/provision.sh --browser (never a downloaded build). */
export const CHROMIUM = '/usr/bin/chromium';

/** Whether browser tests can run here; suites skip (and say why) when not. */
export const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`Skipping browser tests: ${CHROMIUM} is missing (apt-get install chromium).`);

/**
 * Headless Chromium as this machine allows it: no sandbox (root), no GPU, no background network
 * traffic (the network is closed), and autoplay without a gesture so players start by themselves.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}
