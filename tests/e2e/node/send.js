// A Node.js app instrumented with the unmodified @segment/analytics-node, pointed at the hub:
// one track and one identify, flushed (closeAndFlush). It prints one JSON line the test reads:
// {"sent": [{type, messageId}], "statuses": [HTTP statuses], "errors": [...]}.
// HUB_HOST, HUB_WRITE_KEY and HUB_USER_ID come from the environment (tests/e2e/test_segment_sdks.py).
'use strict';

const { Analytics } = require('@segment/analytics-node');

async function main() {
  const analytics = new Analytics({
    writeKey: process.env.HUB_WRITE_KEY,
    host: process.env.HUB_HOST,
    path: '/v1/batch',
    maxEventsInBatch: 10,
    flushInterval: 200,
    maxRetries: 1,
  });
  const report = { sent: [], statuses: [], errors: [] };
  analytics.on('http_response', (response) => report.statuses.push(response.status));
  analytics.on('error', (error) => report.errors.push(String(error.code || error.reason || error)));
  const done = (error, ctx) => {
    if (error) {
      report.errors.push(String(error.reason || error));
    } else {
      report.sent.push({ type: ctx.event.type, messageId: ctx.event.messageId });
    }
  };
  const userId = process.env.HUB_USER_ID;
  analytics.track({ userId, event: 'Product Viewed', properties: { sku: 'SKU-NODE' } }, done);
  analytics.identify({ userId, traits: { plan: 'node-plan' } }, done);
  await analytics.closeAndFlush({ timeout: 30000 });
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
