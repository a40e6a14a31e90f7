from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.batch_request import BatchRequest
from ...models.batch_response import BatchResponse
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: BatchRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/messages/batch",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> BatchResponse | Problem | None:
    if response.status_code == 200:
        response_200 = BatchResponse.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[BatchResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[BatchResponse | Problem]:
    """Send up to 500 messages at once. Every message is validated first: if any is
    malformed (what `POST /v1/messages` answers with 422), the whole batch is a 422
    naming each fault as `messages[i].field`, and nothing is sent. Otherwise each
    message is checked against the quota of its stream (each message counts) and
    accepted on its own: a message refused for what depends on state (quota, an
    unknown template, a reused idempotency key, its size) does not stop the others.
    The answer is 200 with a result per message.

     With an `Idempotency-Key` header, message *i* is idempotent under `<key>#<i>`:
    repeating the batch returns the same ids and sends nothing again.

    Args:
        idempotency_key (None | str | Unset):
        body (BatchRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BatchResponse | Problem]
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
    body: BatchRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> BatchResponse | Problem | None:
    """Send up to 500 messages at once. Every message is validated first: if any is
    malformed (what `POST /v1/messages` answers with 422), the whole batch is a 422
    naming each fault as `messages[i].field`, and nothing is sent. Otherwise each
    message is checked against the quota of its stream (each message counts) and
    accepted on its own: a message refused for what depends on state (quota, an
    unknown template, a reused idempotency key, its size) does not stop the others.
    The answer is 200 with a result per message.

     With an `Idempotency-Key` header, message *i* is idempotent under `<key>#<i>`:
    repeating the batch returns the same ids and sends nothing again.

    Args:
        idempotency_key (None | str | Unset):
        body (BatchRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BatchResponse | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: BatchRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[BatchResponse | Problem]:
    """Send up to 500 messages at once. Every message is validated first: if any is
    malformed (what `POST /v1/messages` answers with 422), the whole batch is a 422
    naming each fault as `messages[i].field`, and nothing is sent. Otherwise each
    message is checked against the quota of its stream (each message counts) and
    accepted on its own: a message refused for what depends on state (quota, an
    unknown template, a reused idempotency key, its size) does not stop the others.
    The answer is 200 with a result per message.

     With an `Idempotency-Key` header, message *i* is idempotent under `<key>#<i>`:
    repeating the batch returns the same ids and sends nothing again.

    Args:
        idempotency_key (None | str | Unset):
        body (BatchRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BatchResponse | Problem]
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
    body: BatchRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> BatchResponse | Problem | None:
    """Send up to 500 messages at once. Every message is validated first: if any is
    malformed (what `POST /v1/messages` answers with 422), the whole batch is a 422
    naming each fault as `messages[i].field`, and nothing is sent. Otherwise each
    message is checked against the quota of its stream (each message counts) and
    accepted on its own: a message refused for what depends on state (quota, an
    unknown template, a reused idempotency key, its size) does not stop the others.
    The answer is 200 with a result per message.

     With an `Idempotency-Key` header, message *i* is idempotent under `<key>#<i>`:
    repeating the batch returns the same ids and sends nothing again.

    Args:
        idempotency_key (None | str | Unset):
        body (BatchRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BatchResponse | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
