#!/usr/bin/env python3
"""End to end through the generated Python SDK (sdks/python, package `sluice_client`)
against a running Sluice, every call through the SDK:

create a domain and check its DNS records; register a webhook pointing at a receiver
started here on loopback; send a message and a batch; poll the message until it is
delivered; receive its `message.delivered` webhook and verify the signature with the
Standard Webhooks library (PyPI `standardwebhooks`), and that a tampered body fails;
check a 422 problem from an invalid send.

    SLUICE_URL=http://127.0.0.1:8080 SLUICE_API_KEY=sk_… PYTHONPATH=sdks/python \\
        python3 sdks/python-e2e/e2e.py

The key needs the `send`, `read` and `admin` scopes, and Sluice must be allowed to
deliver webhooks to loopback. Run by tests/it/sdks.rs; exits 0 when every check
passed, otherwise fails with the check that did not hold.
"""

import json
import os
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sluice_client import AuthenticatedClient
from sluice_client.api.domains import create_domain
from sluice_client.api.messages import get_message, send_batch, send_message
from sluice_client.api.webhooks import create_webhook
from sluice_client.models import (
    BatchRequest,
    BatchResponse,
    CreateDomainRequest,
    CreateWebhookRequest,
    DomainView,
    EventType,
    MessageAccepted,
    MessageStatus,
    MessageView,
    Problem,
    SendMessageRequest,
    WebhookPayload,
    WebhookWithSecret,
)

DOMAIN = "sdk-py.test"
TIMEOUT = 30.0


def check(condition, what):
    if not condition:
        raise AssertionError(what)


class Receiver(BaseHTTPRequestHandler):
    """Records every POST (headers and the raw body) and answers 200."""

    deliveries: "queue.Queue[tuple[dict[str, str], bytes]]" = queue.Queue()

    def do_POST(self):  # noqa: N802 (the http.server interface)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.deliveries.put(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def message(subject, to="someone@example.com"):
    return SendMessageRequest(
        from_=f"SDK <hello@{DOMAIN}>",
        to=[to],
        subject=subject,
        text="Sent through the generated Python SDK.",
    )


def main():
    client = AuthenticatedClient(
        base_url=os.environ["SLUICE_URL"],
        token=os.environ["SLUICE_API_KEY"],
        raise_on_unexpected_status=True,
    )

    # A domain: its DKIM key, and the records to publish.
    response = create_domain.sync_detailed(client=client, body=CreateDomainRequest(name=DOMAIN))
    check(response.status_code == 201, f"create domain: {response.status_code} {response.content!r}")
    domain = response.parsed
    check(isinstance(domain, DomainView) and domain.name == DOMAIN, f"the domain: {domain}")
    records = {record.purpose.value: record for record in domain.dns_records}
    check({"dkim", "spf", "dmarc"} <= set(records), f"records: {sorted(records)}")
    dkim = records["dkim"]
    check(dkim.name == f"{domain.dkim.selector}._domainkey.{DOMAIN}", f"DKIM record name: {dkim.name}")
    check(dkim.value.startswith("v=DKIM1;"), f"DKIM record: {dkim.value}")
    check(records["spf"].value.startswith("v=spf1 "), f"SPF record: {records['spf'].value}")
    check(records["dmarc"].name == f"_dmarc.{DOMAIN}", f"DMARC record name: {records['dmarc'].name}")

    # A webhook endpoint on loopback, for deliveries.
    receiver = start_receiver()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    body = CreateWebhookRequest(url=url, events=[EventType.MESSAGE_DELIVERED])
    response = create_webhook.sync_detailed(client=client, body=body)
    check(response.status_code == 201, f"create webhook: {response.status_code} {response.content!r}")
    webhook = response.parsed
    check(isinstance(webhook, WebhookWithSecret), f"the webhook: {webhook}")
    check(webhook.secret.startswith("whsec_"), "the secret is a whsec_ secret")
    check(webhook.url == url, f"webhook url: {webhook.url}")

    # One message: 202, queued.
    response = send_message.sync_detailed(client=client, body=message("Hello from Python"))
    check(response.status_code == 202, f"send: {response.status_code} {response.content!r}")
    accepted = response.parsed
    check(isinstance(accepted, MessageAccepted), f"send answer: {accepted}")
    check(accepted.id.startswith("msg_"), f"message id: {accepted.id}")
    check(accepted.status == MessageStatus.QUEUED, f"status: {accepted.status}")

    # A batch with a malformed message is refused whole, each fault named by index.
    bad = BatchRequest(messages=[message("Batch one"), message("Bad", to="nobody")])
    response = send_batch.sync_detailed(client=client, body=bad)
    check(response.status_code == 422, f"bad batch: {response.status_code} {response.content!r}")
    fields = [e["field"] for e in json.loads(response.content)["errors"]]
    check(fields == ["messages[1].to[0]"], f"its fields: {fields}")
    # A well-formed batch: a result per message, in request order.
    batch = BatchRequest(messages=[message("Batch one"), message("Batch two")])
    response = send_batch.sync_detailed(client=client, body=batch)
    check(response.status_code == 200, f"batch: {response.status_code} {response.content!r}")
    results = response.parsed
    check(isinstance(results, BatchResponse) and len(results.results) == 2, f"batch answer: {results}")
    first, second = results.results
    check(isinstance(first, MessageAccepted) and isinstance(second, MessageAccepted), f"{first} {second}")
    check(len({accepted.id, first.id, second.id}) == 3, "every message has its own id")

    # Its status, until delivered.
    deadline = time.monotonic() + TIMEOUT
    while True:
        view = get_message.sync(accepted.id, client=client)
        check(isinstance(view, MessageView), f"message view: {view}")
        if view.status == MessageStatus.DELIVERED:
            break
        check(time.monotonic() < deadline, f"not delivered after {TIMEOUT} s: {view.to_dict()}")
        time.sleep(0.1)
    check(view.id == accepted.id and view.subject == "Hello from Python", f"the message: {view.to_dict()}")

    # Its message.delivered webhook, verified with the Standard Webhooks library.
    while True:
        remaining = deadline - time.monotonic()
        check(remaining > 0, "no message.delivered webhook for the message")
        try:
            headers, raw = Receiver.deliveries.get(timeout=remaining)
        except queue.Empty:
            continue
        payload = WebhookPayload.from_dict(json.loads(raw))
        if payload.type_ == EventType.MESSAGE_DELIVERED and payload.data.message_id == accepted.id:
            break
    verifier = Webhook(webhook.secret)
    verifier.verify(raw, headers)
    check(headers["webhook-id"] == payload.data.event_id, "webhook-id is the event id")
    tampered = raw.replace(b'"message.delivered"', b'"message.bounced"', 1)
    check(tampered != raw, "the body names its type")
    try:
        verifier.verify(tampered, headers)
    except WebhookVerificationError:
        pass
    else:
        raise AssertionError("a tampered body verified")

    # An error through the SDK: an RFC 9457 problem, one entry per invalid field.
    response = send_message.sync_detailed(client=client, body=message("Invalid", to="not an address"))
    check(response.status_code == 422, f"invalid send: {response.status_code} {response.content!r}")
    check(response.headers["content-type"] == "application/problem+json", f"{response.headers}")
    problem = response.parsed
    check(isinstance(problem, Problem), f"the problem: {problem}")
    check(problem.status == 422 and problem.type_.startswith("urn:sluice:problem:"), f"{problem}")
    check([e.field for e in problem.errors] == ["to[0]"], f"fields: {problem.errors}")
    check(json.loads(response.content)["errors"][0]["field"] == "to[0]", "the body as sent")

    receiver.shutdown()
    print("python SDK e2e: all checks passed")


if __name__ == "__main__":
    main()
