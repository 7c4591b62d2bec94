// The README's quickstart, followed in a browser (issue 17's "done when"): herald serving
// examples/quickstart.toml as it is committed, with the README's environment; the step 3
// delivery and a step 5 delivery that the destination refuses for good (dead); signing in
// at /ui shows both events, and the dead delivery is replayed from its page once the
// destination is fixed. See dashboard.test.mjs for the variables this reads.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, closeServer, eventually, launchBrowser, startHerald, stopHerald } from './support.mjs';

// The README's values.
const GITHUB_WEBHOOK_SECRET = 'dev-secret';
const HERALD_ADMIN_TOKEN = 'dev-admin-token';
const BODY = '{"action":"opened","number":1,"pull_request":{"title":"Hello, herald"}}';

/// examples/sink.py's part: answers `sink.status` to every request and keeps them.
function startSink() {
  const sink = { status: 200, requests: [] };
  sink.server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      sink.requests.push({ body: Buffer.concat(chunks).toString(), status: sink.status });
      res.writeHead(sink.status);
      res.end();
    });
  });
  return new Promise((ready) => {
    sink.server.listen(0, '127.0.0.1', () => {
      sink.url = `http://127.0.0.1:${sink.server.address().port}/`;
      ready(sink);
    });
  });
}

describe('the quickstart in the dashboard', () => {
  let dir, sink, herald, context, page;

  /// Step 3's curl: the body signed with HMAC-SHA256, as GitHub does.
  async function deliver(deliveryId) {
    const signature = createHmac('sha256', GITHUB_WEBHOOK_SECRET).update(BODY).digest('hex');
    const response = await fetch(`${herald.base}/hooks/github`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-GitHub-Event': 'pull_request',
        'X-GitHub-Delivery': deliveryId,
        'X-Hub-Signature-256': `sha256=${signature}`,
      },
      body: BODY,
    });
    const text = await response.text();
    assert.equal(response.status, 202, text);
    return JSON.parse(text).event_id;
  }

  async function deliveryOf(eventId) {
    const response = await fetch(`${herald.base}/api/deliveries?event=${eventId}`, {
      headers: { authorization: `Bearer ${HERALD_ADMIN_TOKEN}` },
    });
    assert.equal(response.status, 200);
    const answer = await response.json();
    const deliveries = Array.isArray(answer) ? answer : answer.deliveries;
    assert.equal(deliveries.length, 1);
    return deliveries[0];
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-quickstart-'));
    copyFileSync(join(ROOT, 'examples', 'quickstart.toml'), join(dir, 'quickstart.toml'));
    sink = await startSink();
    herald = await startHerald(dir, join(dir, 'quickstart.toml'), {
      GITHUB_WEBHOOK_SECRET,
      HERALD_SINK_URL: sink.url,
      HERALD_ADMIN_TOKEN,
    });
    ({ context, page } = await launchBrowser(join(dir, 'chromium-profile')));
  });

  after(async () => {
    await context?.close().catch(() => {});
    await stopHerald(herald);
    if (sink) await closeServer(sink.server);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the events sent and replays the dead delivery of step 5', async () => {
    const first = await deliver('4d3b7a10-0001');
    await eventually('step 3 forwarded', async () => (await deliveryOf(first)).status === 'succeeded');
    // Step 5: the sink answers 410 (permanent), so the new delivery is dead at once.
    sink.status = 410;
    const second = await deliver('4d3b7a10-0002');
    await eventually('step 5 dead', async () => (await deliveryOf(second)).status === 'dead');
    sink.status = 200;

    await page.goto(`${herald.base}/ui`);
    assert.match(new URL(page.url()).pathname, /^\/ui\/login/);
    await page.fill('#token', HERALD_ADMIN_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${herald.base}/ui`);

    await page.goto(`${herald.base}/ui/events`);
    for (const id of ['4d3b7a10-0001', '4d3b7a10-0002']) {
      const row = page.locator('table tbody tr', { hasText: id });
      await row.waitFor();
      assert.match(await row.innerText(), /github\s+pull_request\.opened/);
    }

    await page.goto(`${herald.base}/ui/deliveries?status=dead`);
    await page.locator(`a[href="/ui/deliveries/${(await deliveryOf(second)).id}"]`).first().click();
    await page.waitForURL(/\/ui\/deliveries\/[^/?]+$/);
    const deliveryUrl = page.url();
    assert.equal((await page.locator('dd.status').innerText()).trim(), 'dead');
    await page.getByRole('button', { name: 'Replay' }).click();
    await page.getByText('Re-queued: it is pending again.').waitFor();
    await eventually('the replay delivered', async () => {
      await page.goto(deliveryUrl);
      return (await page.locator('dd.status').innerText()).trim() === 'succeeded';
    });
    const forwarded = sink.requests.filter((r) => r.status === 200).map((r) => JSON.parse(r.body).delivery);
    assert.deepEqual(forwarded, ['4d3b7a10-0001', '4d3b7a10-0002']);
    const html = await page.content();
    assert.ok(!html.includes(HERALD_ADMIN_TOKEN) && !html.includes(GITHUB_WEBHOOK_SECRET), 'no secret on the page');
  });
});
