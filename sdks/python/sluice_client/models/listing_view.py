from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ListingView")


@_attrs_define
class ListingView:
    """
    Attributes:
        answer (str): The blocklist's answer when the listing was first seen. Example: 127.0.0.2.
        since (datetime.datetime):
        zone (str):  Example: zen.spamhaus.org.
    """

    answer: str
    since: datetime.datetime
    zone: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        answer = self.answer

        since = self.since.isoformat()

        zone = self.zone

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "answer": answer,
                "since": since,
                "zone": zone,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        answer = d.pop("answer")

        since = datetime.datetime.fromisoformat(d.pop("since"))

        zone = d.pop("zone")

        listing_view = cls(
            answer=answer,
            since=since,
            zone=zone,
        )

        listing_view.additional_properties = d
        return listing_view

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
