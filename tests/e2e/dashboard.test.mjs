// Browser tests of herald's dashboard (issue 17): the real `herald serve` binary, a sink
// started here, signed GitHub webhooks, and Debian's Chromium in headless mode driven by
// playwright-core. Run with `node --test` in this directory (see docs/testing.md):
//
//   HERALD_BIN   the herald binary (default: target/debug/herald at the repository root,
//                or under $CARGO_TARGET_DIR when that is set); this file builds nothing
//   CHROMIUM_BIN the Chromium binary (default: /usr/bin/chromium, Debian's `chromium`)
//   UPDATE_SCREENSHOTS=1  rewrite docs/screenshots/overview.png and events.png

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, closeServer, eventually, launchBrowser, startHerald, stopHerald } from './support.mjs';

const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';

const WEBHOOK_SECRET = 'e2e-webhook-secret-4f1c9a';
const ADMIN_TOKEN = 'e2e-admin-token-8d27b3';
// The payload text the test searches for: only in the commit message of the first push.
const NEEDLE = 'flux capacitor';

/// A destination on 127.0.0.1: `/flaky` answers 500 the first time and 200 after, every
/// other path 200. It keeps every request it got.
function startSink() {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const first = !requests.some((r) => r.path === req.url);
      requests.push({ path: req.url, body: Buffer.concat(chunks).toString() });
      const status = req.url === '/flaky' && first ? 500 : 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 500 ? 'the sink fails once' : 'ok');
    });
  });
  return new Promise((ready) => {
    server.listen(0, '127.0.0.1', () => ready({ server, requests, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

/// The quickstart's GitHub source and forwarding rule, with an admin token, a rule whose
/// filter is false for a feature branch, and a windowed digest rule. The forwarding action
/// has an empty retry schedule: its first failure makes the delivery dead at once.
function config(sinkUrl) {
  return `
[server]
admin_secret = "admin"

[secrets]
github_webhook = "\${env:E2E_GITHUB_WEBHOOK_SECRET}"
admin = "\${env:E2E_HERALD_ADMIN_TOKEN}"

[sources.github]
kind = "github"
secrets = ["github_webhook"]

[rules.forward-pull-requests]
sources = ["github"]
events = ["pull_request.*", "push"]
actions = ["sink"]

[rules.main-only]
sources = ["github"]
events = ["push"]
filter = "event.ref == 'refs/heads/main'"
actions = ["digest-sink"]

[rules.digest]
sources = ["github"]
events = ["push"]
actions = ["digest-sink"]
window = { group = "{{ event.repository.full_name }}", quiet = "1h" }

[actions.sink]
kind = "http"
url = "${sinkUrl}/flaky"
body = '''
{"type": {{ meta.type }}, "delivery": {{ meta.dedup_key }}, "payload": {{ event }}}
'''
retry = { schedule = [] }

[actions.digest-sink]
kind = "http"
url = "${sinkUrl}/digest"
retry = { schedule = ["1s"], jitter = 0 }
`;
}

const push = (ref, message) => ({
  ref,
  after: randomUUID().replaceAll('-', '').slice(0, 40),
  repository: { name: 'api', full_name: 'acme/api' },
  pusher: { name: 'octocat' },
  head_commit: { message },
});

describe('the dashboard in a browser', () => {
  let dir, sink, herald, base, context, page;
  let needleEvent;

  /// POST a GitHub webhook signed as GitHub does (HMAC-SHA256 of the body).
  async function sendGithub(event, payload) {
    const body = JSON.stringify(payload);
    const signature = 'sha256=' + createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex');
    const response = await fetch(`${base}/hooks/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': signature,
      },
      body,
    });
    const text = await response.text();
    assert.equal(response.status, 202, text);
    return JSON.parse(text).event_id;
  }

  /// The admin API, with the admin token.
  async function api(path) {
    const response = await fetch(`${base}/api${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    return response.json();
  }

  const deliveries = async () => {
    const answer = await api('/deliveries?limit=100');
    return Array.isArray(answer) ? answer : answer.deliveries;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-e2e-'));
    sink = await startSink();
    writeFileSync(join(dir, 'herald.toml'), config(sink.url));
    herald = await startHerald(dir, join(dir, 'herald.toml'), {
      E2E_GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      E2E_HERALD_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    base = herald.base;

    // The push the test looks for: its forwarding dies (the sink's one 500, no retries).
    needleEvent = await sendGithub('push', push('refs/heads/feature/time-travel', `Fix the ${NEEDLE} on the DeLorean`));
    await eventually('the first push\'s forwarding to be dead', async () =>
      (await deliveries()).some((d) => d.event_id === needleEvent && d.status === 'dead'));
    // A few more, so the pages show more than one event.
    await sendGithub('pull_request', { action: 'opened', number: 42, pull_request: { title: 'Add the dashboard', html_url: 'https://github.com/acme/api/pull/42' }, repository: { name: 'api', full_name: 'acme/api' } });
    await sendGithub('push', push('refs/heads/main', 'Merge pull request #42 from acme/dashboard'));
    await sendGithub('push', push('refs/heads/docs', 'Describe each page of the dashboard'));
    await eventually('the other forwardings to succeed', async () =>
      (await deliveries()).filter((d) => d.rule === 'forward-pull-requests' && d.status === 'succeeded').length === 3);

    ({ context, page } = await launchBrowser(join(dir, 'chromium-profile')));
  });

  after(async () => {
    await context?.close().catch(() => {});
    await stopHerald(herald);
    if (sink) await closeServer(sink.server);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('redirects to sign-in and signs in with the admin token', async () => {
    await page.goto(`${base}/ui/events`);
    assert.match(new URL(page.url()).pathname, /^\/ui\/login/);
    await page.fill('#token', 'not-the-token');
    await page.click('button[type=submit]');
    await page.locator('p.error').waitFor();
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/ui`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const cookies = await context.cookies(`${base}/ui`);
    const session = cookies.find((c) => c.name === 'herald_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    const html = await page.content();
    assert.ok(!html.includes(ADMIN_TOKEN) && !html.includes(WEBHOOK_SECRET), 'no secret on the overview');
    await screenshot('overview');
  });

  it('finds an event by payload text and opens it', async () => {
    await page.goto(`${base}/ui/events`);
    await page.locator('table tbody tr').nth(3).waitFor();
    await screenshot('events');
    await page.fill('input[name=q]', NEEDLE.toUpperCase());
    await page.click('form.filters button[type=submit]');
    await page.waitForURL(/[?&]q=FLUX/);
    const rows = page.locator('table tbody tr');
    await page.getByText('1 found among').waitFor();
    assert.equal(await rows.count(), 1);
    await rows.first().locator(`a[href="/ui/events/${needleEvent}"]`).click();
    await page.waitForURL(`${base}/ui/events/${needleEvent}`);
    await page.locator('summary', { hasText: 'Payload' }).click();
    assert.match(await page.locator('details pre').first().innerText(), new RegExp(NEEDLE));
  });

  it('shows why a rule did not fire', async () => {
    await page.goto(`${base}/ui/events/${needleEvent}`);
    const mainOnly = page.locator('table.explain tr', { has: page.locator('td', { hasText: /^main-only$/ }) });
    await mainOnly.waitFor();
    assert.equal(await mainOnly.getAttribute('class'), 'unmatched');
    assert.equal((await mainOnly.locator('td').nth(1).innerText()).trim(), 'no');
    assert.match(await mainOnly.locator('td').nth(2).innerText(), /its filter is false/);
    const forward = page.locator('table.explain tr', { has: page.locator('td', { hasText: /^forward-pull-requests$/ }) });
    assert.equal(await forward.getAttribute('class'), 'matched');
    assert.match(await forward.innerText(), /sink: dead/);
    const digest = page.locator('table.explain tr', { has: page.locator('td', { hasText: /^digest$/ }) });
    assert.match(await digest.innerText(), /group acme\/api: open/);
  });

  it('replays a dead delivery and sees it delivered', async () => {
    await page.goto(`${base}/ui/events/${needleEvent}`);
    await page.locator('table.explain a', { hasText: 'sink: dead' }).click();
    await page.waitForURL(/\/ui\/deliveries\/[^/?]+$/);
    const deliveryUrl = page.url();
    assert.equal((await page.locator('dd.status').innerText()).trim(), 'dead');
    assert.match(await page.locator('section.attempt').first().innerText(), /500/);
    const before = sink.requests.filter((r) => r.path === '/flaky').length;
    await page.getByRole('button', { name: 'Replay' }).click();
    await page.getByText('Re-queued: it is pending again.').waitFor();
    // herald's worker picks it up at once; the page shows it when reloaded.
    await eventually('the replayed delivery to succeed', async () => {
      await page.goto(deliveryUrl);
      return (await page.locator('dd.status').innerText()).trim() === 'succeeded';
    });
    assert.equal(await page.locator('section.attempt').count(), 2);
    const sent = sink.requests.filter((r) => r.path === '/flaky').slice(before);
    assert.equal(sent.length, 1);
    assert.match(sent[0].body, new RegExp(NEEDLE));
    await page.getByRole('link', { name: new RegExp(needleEvent) }).click();
    await page.waitForURL(`${base}/ui/events/${needleEvent}`);
    await page.locator('table.explain a', { hasText: 'sink: succeeded' }).waitFor();
  });

  it('flushes a window', async () => {
    await page.goto(`${base}/ui/windows`);
    const row = page.locator('table tbody tr', { hasText: 'acme/api' });
    await row.waitFor();
    assert.match(await row.innerText(), /digest/);
    assert.match((await row.locator('td').nth(2).innerText()).trim(), /^3$/);
    const before = sink.requests.filter((r) => r.path === '/digest').length;
    await row.getByRole('button', { name: 'Flush now' }).click();
    await page.getByText('1 windows made due').waitFor();
    await eventually('the window to be flushed', async () => {
      await page.goto(`${base}/ui/windows`);
      return (await page.getByText('No window is open.').count()) === 1;
    });
    await eventually('the digest to reach the sink', async () =>
      sink.requests.filter((r) => r.path === '/digest').length > before);
    const digest = (await deliveries()).find((d) => d.rule === 'digest');
    assert.ok(digest, 'the flush made a delivery');
  });

  /// Rewrite docs/screenshots/NAME.png when UPDATE_SCREENSHOTS=1; otherwise take it anyway
  /// (a page that cannot be drawn fails) and throw it away.
  async function screenshot(name) {
    const png = await page.screenshot({ fullPage: false });
    assert.ok(png.length > 1000);
    if (UPDATE_SCREENSHOTS) {
      mkdirSync(join(ROOT, 'docs', 'screenshots'), { recursive: true });
      writeFileSync(join(ROOT, 'docs', 'screenshots', `${name}.png`), png);
    }
  }
});
