from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.api_key_mode import ApiKeyMode
from ..models.scope import Scope
from ..types import UNSET, Unset

T = TypeVar("T", bound="ApiKeyCreated")


@_attrs_define
class ApiKeyCreated:
    """A freshly created API key. `key` is shown this once; Sluice keeps only its hash.

    Attributes:
        created_at (datetime.datetime):
        id (str): Identifier: `key_` followed by a ULID.
        key (str):  Example: sk_3bJ9c0x….
        scopes (list[Scope]):
        tenant_id (str): Identifier: `ten_` followed by a ULID.
        expires_at (datetime.datetime | None | Unset): When the key stops working; absent for keys that never expire.
        mode (ApiKeyMode | Unset): Whether a key sends real mail (`live`) or only simulates delivery (`test`: a
            sandbox key, `sk_test_…`, whose messages are built and signed but never leave the
            machine; see the README's "Sandbox keys").
        name (None | str | Unset): The label given at creation, if any. Example: billing service.
    """

    created_at: datetime.datetime
    id: str
    key: str
    scopes: list[Scope]
    tenant_id: str
    expires_at: datetime.datetime | None | Unset = UNSET
    mode: ApiKeyMode | Unset = UNSET
    name: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        id = self.id

        key = self.key

        scopes = []
        for scopes_item_data in self.scopes:
            scopes_item = scopes_item_data.value
            scopes.append(scopes_item)

        tenant_id = self.tenant_id

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        elif isinstance(self.expires_at, datetime.datetime):
            expires_at = self.expires_at.isoformat()
        else:
            expires_at = self.expires_at

        mode: str | Unset = UNSET
        if not isinstance(self.mode, Unset):
            mode = self.mode.value

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "key": key,
                "scopes": scopes,
                "tenant_id": tenant_id,
            }
        )
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at
        if mode is not UNSET:
            field_dict["mode"] = mode
        if name is not UNSET:
            field_dict["name"] = name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = d.pop("id")

        key = d.pop("key")

        scopes = []
        _scopes = d.pop("scopes")
        for scopes_item_data in _scopes:
            scopes_item = Scope(scopes_item_data)

            scopes.append(scopes_item)

        tenant_id = d.pop("tenant_id")

        def _parse_expires_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        _mode = d.pop("mode", UNSET)
        mode: ApiKeyMode | Unset
        if isinstance(_mode, Unset):
            mode = UNSET
        else:
            mode = ApiKeyMode(_mode)

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        api_key_created = cls(
            created_at=created_at,
            id=id,
            key=key,
            scopes=scopes,
            tenant_id=tenant_id,
            expires_at=expires_at,
            mode=mode,
            name=name,
        )

        api_key_created.additional_properties = d
        return api_key_created

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
