from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.dkim_key_view import DkimKeyView
from ...models.problem import Problem
from ...models.rotate_dkim_request import RotateDkimRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    name: str,
    *,
    body: None | RotateDkimRequest | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/domains/{name}/dkim/rotate".format(
            name=quote(str(name), safe=""),
        ),
    }

    if isinstance(body, RotateDkimRequest):
        _kwargs["json"] = body.to_dict()
    else:
        _kwargs["json"] = body

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> DkimKeyView | Problem | None:
    if response.status_code == 201:
        response_201 = DkimKeyView.from_dict(response.json())

        return response_201

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

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[DkimKeyView | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    body: None | RotateDkimRequest | Unset = UNSET,
) -> Response[DkimKeyView | Problem]:
    """Start a DKIM key rotation: a new key (new selector) is created `pending` and its
    DNS record returned. Mail stays signed with the current key until the new record
    verifies (on `verify` or the periodic check); then the new key becomes active and
    the old one `retiring`: keep its record published until its `retire_at`.

    Args:
        name (str):
        body (None | RotateDkimRequest | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DkimKeyView | Problem]
    """

    kwargs = _get_kwargs(
        name=name,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    name: str,
    *,
    client: AuthenticatedClient,
    body: None | RotateDkimRequest | Unset = UNSET,
) -> DkimKeyView | Problem | None:
    """Start a DKIM key rotation: a new key (new selector) is created `pending` and its
    DNS record returned. Mail stays signed with the current key until the new record
    verifies (on `verify` or the periodic check); then the new key becomes active and
    the old one `retiring`: keep its record published until its `retire_at`.

    Args:
        name (str):
        body (None | RotateDkimRequest | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DkimKeyView | Problem
    """

    return sync_detailed(
        name=name,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    name: str,
    *,
    client: AuthenticatedClient,
    body: None | RotateDkimRequest | Unset = UNSET,
) -> Response[DkimKeyView | Problem]:
    """Start a DKIM key rotation: a new key (new selector) is created `pending` and its
    DNS record returned. Mail stays signed with the current key until the new record
    verifies (on `verify` or the periodic check); then the new key becomes active and
    the old one `retiring`: keep its record published until its `retire_at`.

    Args:
        name (str):
        body (None | RotateDkimRequest | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DkimKeyView | Problem]
    """

    kwargs = _get_kwargs(
        name=name,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    name: str,
    *,
    client: AuthenticatedClient,
    body: None | RotateDkimRequest | Unset = UNSET,
) -> DkimKeyView | Problem | None:
    """Start a DKIM key rotation: a new key (new selector) is created `pending` and its
    DNS record returned. Mail stays signed with the current key until the new record
    verifies (on `verify` or the periodic check); then the new key becomes active and
    the old one `retiring`: keep its record published until its `retire_at`.

    Args:
        name (str):
        body (None | RotateDkimRequest | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DkimKeyView | Problem
    """

    return (
        await asyncio_detailed(
            name=name,
            client=client,
            body=body,
        )
    ).parsed
