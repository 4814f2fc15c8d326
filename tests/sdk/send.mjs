// Sends one scenario through a real SDK to Nudge: node send.mjs <segment|rudder> <host> <writeKey> <run>
// Prints {"errors": [...]} and exits non-zero when the SDK reported one.
import { Analytics as SegmentAnalytics } from "@segment/analytics-node";
import RudderAnalytics from "@rudderstack/rudder-sdk-node";

const [sdk, host, writeKey, run] = process.argv.slice(2);
const errors = [];
let client;
if (sdk === "segment") {
  client = new SegmentAnalytics({ writeKey, host, flushAt: 10, flushInterval: 200, maxRetries: 2 });
  client.on("error", (error) => errors.push(String(error && (error.reason || error.message || error))));
} else {
  client = new RudderAnalytics(writeKey, {
    dataPlaneUrl: host,
    flushAt: 100, // the first event goes at once (the SDK's way), the rest in the flush below
    flushInterval: 200,
    logLevel: "error",
    errorHandler: (error) => errors.push(String(error && (error.message || error))),
  });
}

for (let i = 0; i < 25; i++) {
  client.track({ userId: `user-${i % 5}`, event: "tap", properties: { n: i, run }, messageId: `${run}-track-${i}` });
}
client.identify({ userId: "user-0", traits: { email: "zero@x.test", plan: "pro" }, messageId: `${run}-identify` });
client.page({ userId: "user-1", name: "Pricing", properties: { url: "https://shop.test/pricing" }, messageId: `${run}-page` });
client.screen({ userId: "user-2", name: "Spring Discounts", messageId: `${run}-screen` });
client.group({ userId: "user-3", groupId: "acme", traits: { plan: "team" }, messageId: `${run}-group` });
client.track({ anonymousId: "device-9", event: "browse", messageId: `${run}-anon` });
client.alias({ previousId: "device-9", userId: "user-3", messageId: `${run}-alias` });
// History sent live: the explicit timestamp is the event's, whatever the SDK stamps beside it.
client.track({ userId: "user-4", event: "ordered", timestamp: new Date("2024-06-01T10:00:00Z"), messageId: `${run}-history` });

if (sdk === "segment") {
  await client.closeAndFlush({ timeout: 20000 });
} else {
  // flush() waits for the request in flight (`pendingFlush`), then sends the rest and resolves when the
  // server has answered it.
  await client.flush();
  while (client.queue.length > 0) await client.flush();
  if (client.pendingFlush) await client.pendingFlush;
}
console.log(JSON.stringify({ errors }));
process.exit(errors.length ? 1 : 0);
