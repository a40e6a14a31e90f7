from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.address_blocklist_view import AddressBlocklistView


T = TypeVar("T", bound="BlocklistView")


@_attrs_define
class BlocklistView:
    """The watch's state.

    Attributes:
        addresses (list[AddressBlocklistView]): Every source address that was checked or is listed.
        last_round_at (datetime.datetime | None | Unset): When the last round of lookups ran, and which worker process
            ran it.
        last_round_by (None | str | Unset):
    """

    addresses: list[AddressBlocklistView]
    last_round_at: datetime.datetime | None | Unset = UNSET
    last_round_by: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        addresses = []
        for addresses_item_data in self.addresses:
            addresses_item = addresses_item_data.to_dict()
            addresses.append(addresses_item)

        last_round_at: None | str | Unset
        if isinstance(self.last_round_at, Unset):
            last_round_at = UNSET
        elif isinstance(self.last_round_at, datetime.datetime):
            last_round_at = self.last_round_at.isoformat()
        else:
            last_round_at = self.last_round_at

        last_round_by: None | str | Unset
        if isinstance(self.last_round_by, Unset):
            last_round_by = UNSET
        else:
            last_round_by = self.last_round_by

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "addresses": addresses,
            }
        )
        if last_round_at is not UNSET:
            field_dict["last_round_at"] = last_round_at
        if last_round_by is not UNSET:
            field_dict["last_round_by"] = last_round_by

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.address_blocklist_view import AddressBlocklistView  # noqa: PLC0415

        d = dict(src_dict)
        addresses = []
        _addresses = d.pop("addresses")
        for addresses_item_data in _addresses:
            addresses_item = AddressBlocklistView.from_dict(addresses_item_data)

            addresses.append(addresses_item)

        def _parse_last_round_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_round_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_round_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_round_at = _parse_last_round_at(d.pop("last_round_at", UNSET))

        def _parse_last_round_by(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_round_by = _parse_last_round_by(d.pop("last_round_by", UNSET))

        blocklist_view = cls(
            addresses=addresses,
            last_round_at=last_round_at,
            last_round_by=last_round_by,
        )

        blocklist_view.additional_properties = d
        return blocklist_view

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
