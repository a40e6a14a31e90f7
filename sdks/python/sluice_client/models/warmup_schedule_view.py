from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="WarmupScheduleView")


@_attrs_define
class WarmupScheduleView:
    """
    Attributes:
        daily_caps (list[int]): Messages per provider on day 0, 1, …; past the end the address is warm.
        start (str): The schedule's first day (UTC). Example: 2026-11-01.
    """

    daily_caps: list[int]
    start: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        daily_caps = self.daily_caps

        start = self.start

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "daily_caps": daily_caps,
                "start": start,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        daily_caps = cast(list[int], d.pop("daily_caps"))

        start = d.pop("start")

        warmup_schedule_view = cls(
            daily_caps=daily_caps,
            start=start,
        )

        warmup_schedule_view.additional_properties = d
        return warmup_schedule_view

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
