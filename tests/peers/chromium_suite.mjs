// What every headless-Chromium suite shares: one way to start Debian's
// Chromium, and the case runner whose last line (`N passed, N failed[, N
// skipped]`) run_peers.sh adds up.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

// No sandbox (root in CI), no GPU, and none of the browser's own traffic
// (QUIC probes, component updates, sync) on the loopback the tests watch.
const quietArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// env: variables to set for the browser on top of ours (e.g. HOME, whose
// .pki/nssdb is the NSS database Chromium on Linux takes trust from).
export function launchChromium(extraArgs = [], env = undefined) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [...quietArgs, ...extraArgs],
    env: env ? { ...process.env, ...env } : undefined,
    timeout: 30000,
  });
}

export function want(cond, what) {
  if (!cond) throw new Error(what);
}

function firstLine(e) {
  return e && e.message ? e.message.split('\n')[0] : String(e);
}

export class Suite {
  constructor(name) {
    this.name = name;
    this.passed = 0;
    this.failed = 0;
    this.skipped = 0;
  }

  async run(name, fn) {
    const t0 = Date.now();
    try {
      await fn();
      this.passed++;
      console.log(`ok   ${this.name} ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    } catch (e) {
      this.fail(`${name}: ${firstLine(e)}`);
    }
  }

  fail(what) {
    this.failed++;
    console.log(`FAIL ${this.name} ${what}`);
  }

  skip(what) {
    this.skipped++;
    console.log(`skip ${this.name} ${what}`);
  }

  finish() {
    const skipped = this.skipped ? `, ${this.skipped} skipped` : '';
    console.log(`${this.passed} passed, ${this.failed} failed${skipped}`);
    process.exit(this.failed ? 1 : 0);
  }
}
