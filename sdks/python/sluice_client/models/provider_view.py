from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ProviderView")


@_attrs_define
class ProviderView:
    """
    Attributes:
        builtin (bool):
        max_connections_per_ip (int):
        messages_per_connection (int):
        messages_per_hour_per_ip (int):
        messages_per_minute_per_ip (int):
        mx_patterns (list[str]):
        name (str):  Example: gmail.
    """

    builtin: bool
    max_connections_per_ip: int
    messages_per_connection: int
    messages_per_hour_per_ip: int
    messages_per_minute_per_ip: int
    mx_patterns: list[str]
    name: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        builtin = self.builtin

        max_connections_per_ip = self.max_connections_per_ip

        messages_per_connection = self.messages_per_connection

        messages_per_hour_per_ip = self.messages_per_hour_per_ip

        messages_per_minute_per_ip = self.messages_per_minute_per_ip

        mx_patterns = self.mx_patterns

        name = self.name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "builtin": builtin,
                "max_connections_per_ip": max_connections_per_ip,
                "messages_per_connection": messages_per_connection,
                "messages_per_hour_per_ip": messages_per_hour_per_ip,
                "messages_per_minute_per_ip": messages_per_minute_per_ip,
                "mx_patterns": mx_patterns,
                "name": name,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        builtin = d.pop("builtin")

        max_connections_per_ip = d.pop("max_connections_per_ip")

        messages_per_connection = d.pop("messages_per_connection")

        messages_per_hour_per_ip = d.pop("messages_per_hour_per_ip")

        messages_per_minute_per_ip = d.pop("messages_per_minute_per_ip")

        mx_patterns = cast(list[str], d.pop("mx_patterns"))

        name = d.pop("name")

        provider_view = cls(
            builtin=builtin,
            max_connections_per_ip=max_connections_per_ip,
            messages_per_connection=messages_per_connection,
            messages_per_hour_per_ip=messages_per_hour_per_ip,
            messages_per_minute_per_ip=messages_per_minute_per_ip,
            mx_patterns=mx_patterns,
            name=name,
        )

        provider_view.additional_properties = d
        return provider_view

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
