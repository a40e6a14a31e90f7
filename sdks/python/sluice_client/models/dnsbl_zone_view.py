from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="DnsblZoneView")


@_attrs_define
class DnsblZoneView:
    """One `[[delivery.dnsbl]]` zone.

    Attributes:
        zone (str):  Example: zen.spamhaus.org.
        listed (list[str] | None | Unset): The answers that mean listed; `null`: any 127.0.0.0/8 answer outside
            127.255.255.0/24.
        providers (list[str] | None | Unset): The providers a listing applies to; `null`: every provider.
    """

    zone: str
    listed: list[str] | None | Unset = UNSET
    providers: list[str] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        zone = self.zone

        listed: list[str] | None | Unset
        if isinstance(self.listed, Unset):
            listed = UNSET
        elif isinstance(self.listed, list):
            listed = self.listed

        else:
            listed = self.listed

        providers: list[str] | None | Unset
        if isinstance(self.providers, Unset):
            providers = UNSET
        elif isinstance(self.providers, list):
            providers = self.providers

        else:
            providers = self.providers

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "zone": zone,
            }
        )
        if listed is not UNSET:
            field_dict["listed"] = listed
        if providers is not UNSET:
            field_dict["providers"] = providers

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        zone = d.pop("zone")

        def _parse_listed(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                listed_type_0 = cast(list[str], data)

                return listed_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        listed = _parse_listed(d.pop("listed", UNSET))

        def _parse_providers(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                providers_type_0 = cast(list[str], data)

                return providers_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        providers = _parse_providers(d.pop("providers", UNSET))

        dnsbl_zone_view = cls(
            zone=zone,
            listed=listed,
            providers=providers,
        )

        dnsbl_zone_view.additional_properties = d
        return dnsbl_zone_view

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
