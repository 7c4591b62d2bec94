// What the browser tests share: the binaries they drive, waiting for a condition, a free
// port, herald started and stopped as a child process, and headless Chromium.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HERALD_BIN = resolve(
  ROOT,
  process.env.HERALD_BIN || join(process.env.CARGO_TARGET_DIR || 'target', 'debug', 'herald'),
);
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/// Poll `check` (async, truthy when done) until it holds or `ms` pass.
export async function eventually(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/// A port free right now on 127.0.0.1.
export function freePort() {
  return new Promise((ready, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ready(port));
    });
  });
}

/// `herald serve --config CONFIG` on a free port, in `dir`, with `env` added to this
/// process's; resolves once it answers `/healthz`. `herald.base` is its URL, `herald.log`
/// what it printed.
export async function startHerald(dir, config, env) {
  assert.ok(existsSync(HERALD_BIN), `no herald binary at ${HERALD_BIN}: build it (cargo build -p herald) or set HERALD_BIN`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(HERALD_BIN, ['serve', '--config', config, '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk) => log.push(chunk));
  child.stderr.on('data', (chunk) => log.push(chunk));
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const herald = { child, base, log, exited };
  // Print herald's log when something failed, to see why.
  process.on('exit', (code) => {
    if (code !== 0 && log.length) console.error(`herald's log:\n${Buffer.concat(log)}`);
  });
  await eventually('herald to answer /healthz', async () => {
    if (child.exitCode !== null) throw new Error(`herald exited (${child.exitCode}):\n${Buffer.concat(log)}`);
    try {
      return (await fetch(`${base}/healthz`)).ok;
    } catch {
      return false;
    }
  });
  return herald;
}

/// SIGTERM, then SIGKILL if herald has not stopped within 30 s.
export async function stopHerald(herald) {
  const { child, exited } = herald ?? {};
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer;
  const timeout = new Promise((done) => (timer = setTimeout(() => done('timeout'), 30_000)));
  if ((await Promise.race([exited, timeout])) === 'timeout') child.kill('SIGKILL');
  clearTimeout(timer);
}

/// Headless Chromium with its profile in `profileDir`: the context and its page.
export async function launchBrowser(profileDir) {
  assert.ok(existsSync(CHROMIUM_BIN), `no Chromium at ${CHROMIUM_BIN}: apt-get install chromium, or set CHROMIUM_BIN`);
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15_000);
  return { context, page };
}

/// Close a server started here, its open connections too.
export function closeServer(server) {
  server.closeAllConnections();
  return new Promise((done) => server.close(done));
}
