from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="WarmupProgressView")


@_attrs_define
class WarmupProgressView:
    """Where one (IP × provider) stands on its address's warm-up ramp today.

    Attributes:
        sent_today (int):
        setbacks (int): Days the ramp lost because the provider pushed back.
        target (str):  Example: 192.0.2.10|gmail.
        cap (int | None | Unset): Today's cap; `null` once warm.
        day (int | None | Unset): Today's day on the ramp (after setbacks); `null` once past the schedule.
    """

    sent_today: int
    setbacks: int
    target: str
    cap: int | None | Unset = UNSET
    day: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        sent_today = self.sent_today

        setbacks = self.setbacks

        target = self.target

        cap: int | None | Unset
        if isinstance(self.cap, Unset):
            cap = UNSET
        else:
            cap = self.cap

        day: int | None | Unset
        if isinstance(self.day, Unset):
            day = UNSET
        else:
            day = self.day

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "sent_today": sent_today,
                "setbacks": setbacks,
                "target": target,
            }
        )
        if cap is not UNSET:
            field_dict["cap"] = cap
        if day is not UNSET:
            field_dict["day"] = day

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        sent_today = d.pop("sent_today")

        setbacks = d.pop("setbacks")

        target = d.pop("target")

        def _parse_cap(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        cap = _parse_cap(d.pop("cap", UNSET))

        def _parse_day(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        day = _parse_day(d.pop("day", UNSET))

        warmup_progress_view = cls(
            sent_today=sent_today,
            setbacks=setbacks,
            target=target,
            cap=cap,
            day=day,
        )

        warmup_progress_view.additional_properties = d
        return warmup_progress_view

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
