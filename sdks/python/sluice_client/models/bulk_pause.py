from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.stream_reputation import StreamReputation


T = TypeVar("T", bound="BulkPause")


@_attrs_define
class BulkPause:
    """Why and since when a tenant's bulk stream is paused.

    Attributes:
        figures (StreamReputation): One stream's standing over the window.
        since (datetime.datetime):
    """

    figures: StreamReputation
    since: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        figures = self.figures.to_dict()

        since = self.since.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "figures": figures,
                "since": since,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.stream_reputation import StreamReputation  # noqa: PLC0415

        d = dict(src_dict)
        figures = StreamReputation.from_dict(d.pop("figures"))

        since = datetime.datetime.fromisoformat(d.pop("since"))

        bulk_pause = cls(
            figures=figures,
            since=since,
        )

        bulk_pause.additional_properties = d
        return bulk_pause

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
