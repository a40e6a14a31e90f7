// End to end through the TypeScript SDK (openapi-fetch typed by the generated
// src/schema.ts) against a running Sluice, every call through the SDK:
//
// create a domain and check its DNS records; register a webhook pointing at a
// receiver started here on loopback; send a message and batches (one refused whole); poll the message
// until it is delivered; receive its `message.delivered` webhook and verify the
// signature with the Standard Webhooks library (npm `standardwebhooks`), and that a
// tampered body fails; check a 422 problem from an invalid send.
//
//   cd sdks/typescript && npm run build &&
//     SLUICE_URL=http://127.0.0.1:8080 SLUICE_API_KEY=sk_… node dist/e2e/e2e.js
//
// The key needs the `send`, `read` and `admin` scopes, and Sluice must be allowed to
// deliver webhooks to loopback. Run by tests/it/sdks.rs (compiled with tsc first, so
// the SDK's types are checked too); exits 0 when every check passed.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { createClient, type Schemas } from "../src/index.js";

const DOMAIN = "sdk-ts.test";
const TIMEOUT_MS = 30_000;

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${what}`);
}

function env(name: string): string {
  const value = process.env[name];
  check(value !== undefined && value !== "", `${name} is set`);
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Delivery {
  headers: Record<string, string>;
  body: string;
}

/** A loopback HTTP server that records every request (headers, raw body) and answers 200. */
async function startReceiver() {
  const deliveries: Delivery[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      deliveries.push({ headers: flat(request.headers), body: Buffer.concat(chunks).toString("utf8") });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, deliveries, close: () => server.close() };
}

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function message(subject: string, to = "someone@example.com"): Schemas["SendMessageRequest"] {
  return { from: `SDK <hello@${DOMAIN}>`, to: [to], subject, text: "Sent through the TypeScript SDK." };
}

async function main() {
  const client = createClient({ baseUrl: env("SLUICE_URL"), apiKey: env("SLUICE_API_KEY") });

  // A domain: its DKIM key, and the records to publish.
  const created = await client.POST("/v1/domains", { body: { name: DOMAIN } });
  check(created.response.status === 201, `create domain: ${created.response.status}`);
  const domain = created.data;
  check(domain !== undefined && domain.name === DOMAIN, `the domain: ${JSON.stringify(created)}`);
  const records = new Map(domain.dns_records.map((record) => [record.purpose, record]));
  const dkim = records.get("dkim");
  const spf = records.get("spf");
  const dmarc = records.get("dmarc");
  check(dkim !== undefined && spf !== undefined && dmarc !== undefined, `records: ${[...records.keys()]}`);
  check(dkim.name === `${domain.dkim.selector}._domainkey.${DOMAIN}`, `DKIM record name: ${dkim.name}`);
  check(dkim.value.startsWith("v=DKIM1;"), `DKIM record: ${dkim.value}`);
  check(spf.value.startsWith("v=spf1 "), `SPF record: ${spf.value}`);
  check(dmarc.name === `_dmarc.${DOMAIN}`, `DMARC record name: ${dmarc.name}`);

  // A webhook endpoint on loopback, for deliveries.
  const receiver = await startReceiver();
  const hook = await client.POST("/v1/webhooks", {
    body: { url: receiver.url, events: ["message.delivered"] },
  });
  check(hook.response.status === 201 && hook.data !== undefined, `create webhook: ${JSON.stringify(hook)}`);
  const webhook = hook.data;
  check(webhook.secret.startsWith("whsec_"), "the secret is a whsec_ secret");
  check(webhook.url === receiver.url, `webhook url: ${webhook.url}`);

  // One message: 202, queued.
  const sent = await client.POST("/v1/messages", { body: message("Hello from TypeScript") });
  check(sent.response.status === 202 && sent.data !== undefined, `send: ${JSON.stringify(sent)}`);
  const accepted = sent.data;
  check(accepted.id.startsWith("msg_") && accepted.status === "queued", `send answer: ${JSON.stringify(accepted)}`);

  // A batch with a malformed message is refused whole, each fault named by index.
  const bad = await client.POST("/v1/messages/batch", {
    body: { messages: [message("Batch one"), message("Bad", "nobody")] },
  });
  check(bad.response.status === 422 && bad.error !== undefined, `bad batch: ${bad.response.status}`);
  check(bad.error.errors?.map((e) => e.field).join() === "messages[1].to[0]", `its fields: ${JSON.stringify(bad.error.errors)}`);
  // A well-formed batch: a result per message, in request order.
  const batch = await client.POST("/v1/messages/batch", {
    body: { messages: [message("Batch one"), message("Batch two")] },
  });
  check(batch.response.status === 200 && batch.data !== undefined, `batch: ${JSON.stringify(batch)}`);
  const [first, second] = batch.data.results;
  check(first !== undefined && "id" in first && second !== undefined && "id" in second, "two accepted");
  check(new Set([accepted.id, first.id, second.id]).size === 3, "every message has its own id");

  // Its status, until delivered.
  const deadline = Date.now() + TIMEOUT_MS;
  let view: Schemas["MessageView"];
  for (;;) {
    const read = await client.GET("/v1/messages/{id}", { params: { path: { id: accepted.id } } });
    check(read.data !== undefined, `read: ${JSON.stringify(read.error)}`);
    view = read.data;
    if (view.status === "delivered") break;
    check(Date.now() < deadline, `not delivered in time: ${JSON.stringify(view)}`);
    await sleep(100);
  }
  check(view.id === accepted.id && view.subject === "Hello from TypeScript", `the message: ${JSON.stringify(view)}`);

  // Its message.delivered webhook, verified with the Standard Webhooks library.
  const delivered = (): [Delivery, Schemas["WebhookPayload"]] | undefined => {
    for (const candidate of receiver.deliveries) {
      const parsed = JSON.parse(candidate.body) as Schemas["WebhookPayload"];
      if (parsed.type === "message.delivered" && parsed.data.message_id === accepted.id) return [candidate, parsed];
    }
    return undefined;
  };
  let found = delivered();
  while (found === undefined) {
    check(Date.now() < deadline, "no message.delivered webhook for the message");
    await sleep(100);
    found = delivered();
  }
  const [delivery, payload] = found;
  const verifier = new Webhook(webhook.secret);
  verifier.verify(delivery.body, delivery.headers);
  check(delivery.headers["webhook-id"] === payload.data.event_id, "webhook-id is the event id");
  const tampered = delivery.body.replace('"message.delivered"', '"message.bounced"');
  check(tampered !== delivery.body, "the body names its type");
  try {
    verifier.verify(tampered, delivery.headers);
    throw new Error("a tampered body verified");
  } catch (error) {
    check(error instanceof WebhookVerificationError, `tampered body: ${error}`);
  }

  // An error through the SDK: an RFC 9457 problem, one entry per invalid field.
  const invalid = await client.POST("/v1/messages", { body: message("Invalid", "not an address") });
  check(invalid.response.status === 422, `invalid send: ${invalid.response.status}`);
  check(invalid.response.headers.get("content-type") === "application/problem+json", "problem+json");
  const problem = invalid.error;
  check(problem !== undefined && problem.status === 422, `the problem: ${JSON.stringify(problem)}`);
  check(problem.type.startsWith("urn:sluice:problem:"), `its type: ${problem.type}`);
  check(problem.errors?.map((e) => e.field).join() === "to[0]", `fields: ${JSON.stringify(problem.errors)}`);

  receiver.close();
  console.log("typescript SDK e2e: all checks passed");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
