from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.message_accepted import MessageAccepted
from ...models.problem import Problem
from ...models.send_message_request import SendMessageRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/messages",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> MessageAccepted | Problem | None:
    if response.status_code == 202:
        response_202 = MessageAccepted.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[MessageAccepted | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[MessageAccepted | Problem]:
    """Send a message. Answers 202 once the message is safely in Redis; delivery happens
    in the background (follow it with `GET /v1/messages/{id}`).

     With a sandbox key (`sk_test_…`) the message is checked, counted against the
    tenant's sandbox quota and built and signed like any other, but never sent: its
    outcome is simulated from each recipient's local part (see the README's "Sandbox
    keys") and its events carry `"test": true`.

    With an `Idempotency-Key` header, repeating the same request within 24 hours returns
    the first response (with `Idempotent-Replayed: true`) and sends nothing again; the
    same key with a different body is a 409.

    Args:
        idempotency_key (None | str | Unset):
        body (SendMessageRequest): The body of `POST /v1/messages`. Example: {'from': 'Acme
            <noreply@acme.test>', 'html': '<p>Your code is <b>123456</b></p>', 'metadata': {'user_id':
            '42'}, 'subject': 'Your sign-in code', 'tags': ['otp'], 'text': 'Your code is 123456',
            'to': ['Jane Doe <jane@example.com>']}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MessageAccepted | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> MessageAccepted | Problem | None:
    """Send a message. Answers 202 once the message is safely in Redis; delivery happens
    in the background (follow it with `GET /v1/messages/{id}`).

     With a sandbox key (`sk_test_…`) the message is checked, counted against the
    tenant's sandbox quota and built and signed like any other, but never sent: its
    outcome is simulated from each recipient's local part (see the README's "Sandbox
    keys") and its events carry `"test": true`.

    With an `Idempotency-Key` header, repeating the same request within 24 hours returns
    the first response (with `Idempotent-Replayed: true`) and sends nothing again; the
    same key with a different body is a 409.

    Args:
        idempotency_key (None | str | Unset):
        body (SendMessageRequest): The body of `POST /v1/messages`. Example: {'from': 'Acme
            <noreply@acme.test>', 'html': '<p>Your code is <b>123456</b></p>', 'metadata': {'user_id':
            '42'}, 'subject': 'Your sign-in code', 'tags': ['otp'], 'text': 'Your code is 123456',
            'to': ['Jane Doe <jane@example.com>']}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MessageAccepted | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[MessageAccepted | Problem]:
    """Send a message. Answers 202 once the message is safely in Redis; delivery happens
    in the background (follow it with `GET /v1/messages/{id}`).

     With a sandbox key (`sk_test_…`) the message is checked, counted against the
    tenant's sandbox quota and built and signed like any other, but never sent: its
    outcome is simulated from each recipient's local part (see the README's "Sandbox
    keys") and its events carry `"test": true`.

    With an `Idempotency-Key` header, repeating the same request within 24 hours returns
    the first response (with `Idempotent-Replayed: true`) and sends nothing again; the
    same key with a different body is a 409.

    Args:
        idempotency_key (None | str | Unset):
        body (SendMessageRequest): The body of `POST /v1/messages`. Example: {'from': 'Acme
            <noreply@acme.test>', 'html': '<p>Your code is <b>123456</b></p>', 'metadata': {'user_id':
            '42'}, 'subject': 'Your sign-in code', 'tags': ['otp'], 'text': 'Your code is 123456',
            'to': ['Jane Doe <jane@example.com>']}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MessageAccepted | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> MessageAccepted | Problem | None:
    """Send a message. Answers 202 once the message is safely in Redis; delivery happens
    in the background (follow it with `GET /v1/messages/{id}`).

     With a sandbox key (`sk_test_…`) the message is checked, counted against the
    tenant's sandbox quota and built and signed like any other, but never sent: its
    outcome is simulated from each recipient's local part (see the README's "Sandbox
    keys") and its events carry `"test": true`.

    With an `Idempotency-Key` header, repeating the same request within 24 hours returns
    the first response (with `Idempotent-Replayed: true`) and sends nothing again; the
    same key with a different body is a 409.

    Args:
        idempotency_key (None | str | Unset):
        body (SendMessageRequest): The body of `POST /v1/messages`. Example: {'from': 'Acme
            <noreply@acme.test>', 'html': '<p>Your code is <b>123456</b></p>', 'metadata': {'user_id':
            '42'}, 'subject': 'Your sign-in code', 'tags': ['otp'], 'text': 'Your code is 123456',
            'to': ['Jane Doe <jane@example.com>']}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MessageAccepted | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
