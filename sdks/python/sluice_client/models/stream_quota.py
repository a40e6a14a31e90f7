from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StreamQuota")


@_attrs_define
class StreamQuota:
    """One stream's limits.

    Attributes:
        burst (int): Messages that may be accepted at once after a quiet spell (at least 1). Example: 200.
        per_day (int): Messages in any rolling 24 hours. Example: 100000.
        per_second (int): Sustained messages per second. Example: 50.
    """

    burst: int
    per_day: int
    per_second: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        burst = self.burst

        per_day = self.per_day

        per_second = self.per_second

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "burst": burst,
                "per_day": per_day,
                "per_second": per_second,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        burst = d.pop("burst")

        per_day = d.pop("per_day")

        per_second = d.pop("per_second")

        stream_quota = cls(
            burst=burst,
            per_day=per_day,
            per_second=per_second,
        )

        stream_quota.additional_properties = d
        return stream_quota

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
