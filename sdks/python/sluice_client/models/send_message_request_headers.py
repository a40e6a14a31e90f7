from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="SendMessageRequestHeaders")


@_attrs_define
class SendMessageRequestHeaders:
    """Extra headers, name to value: a string is one header line, an array of strings
    one line per element, in order (for headers that repeat, such as `Received`).
    Names that differ only in case are the same header. Structural headers (From,
    To, Date, Message-ID, MIME-Version, Content-*, DKIM-Signature, …) are set by
    Sluice and refused here. More than 25 `Received` lines mean a mail loop and are
    refused; `Auto-Submitted` must be an RFC 3834 value (`no`, `auto-generated`,
    `auto-replied`, `auto-notified`, optionally with `; name=value` parameters).

        Example:
            {'Received': ['from a by b; Mon, 1 Dec 2026 10:00:00 +0000'], 'X-Campaign': 'spring'}

    """

    additional_properties: dict[str, list[str] | str] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:

        field_dict: dict[str, Any] = {}
        for prop_name, prop in self.additional_properties.items():
            if isinstance(prop, list):
                field_dict[prop_name] = prop

            else:
                field_dict[prop_name] = prop

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        send_message_request_headers = cls()

        additional_properties = {}
        for prop_name, prop_dict in d.items():

            def _parse_additional_property(data: object) -> list[str] | str:
                try:
                    if not isinstance(data, list):
                        raise TypeError()
                    componentsschemas_header_values_type_1 = cast(list[str], data)

                    return componentsschemas_header_values_type_1
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                return cast(list[str] | str, data)

            additional_property = _parse_additional_property(prop_dict)

            additional_properties[prop_name] = additional_property

        send_message_request_headers.additional_properties = additional_properties
        return send_message_request_headers

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> list[str] | str:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: list[str] | str) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
