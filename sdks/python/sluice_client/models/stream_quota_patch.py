from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="StreamQuotaPatch")


@_attrs_define
class StreamQuotaPatch:
    """A change to one stream's limits: each field set, cleared back to the configured
    default (`null`), or left alone (absent).

        Attributes:
            burst (int | None | Unset):
            per_day (int | None | Unset):
            per_second (int | None | Unset):
    """

    burst: int | None | Unset = UNSET
    per_day: int | None | Unset = UNSET
    per_second: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        burst: int | None | Unset
        if isinstance(self.burst, Unset):
            burst = UNSET
        else:
            burst = self.burst

        per_day: int | None | Unset
        if isinstance(self.per_day, Unset):
            per_day = UNSET
        else:
            per_day = self.per_day

        per_second: int | None | Unset
        if isinstance(self.per_second, Unset):
            per_second = UNSET
        else:
            per_second = self.per_second

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if burst is not UNSET:
            field_dict["burst"] = burst
        if per_day is not UNSET:
            field_dict["per_day"] = per_day
        if per_second is not UNSET:
            field_dict["per_second"] = per_second

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_burst(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        burst = _parse_burst(d.pop("burst", UNSET))

        def _parse_per_day(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        per_day = _parse_per_day(d.pop("per_day", UNSET))

        def _parse_per_second(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        per_second = _parse_per_second(d.pop("per_second", UNSET))

        stream_quota_patch = cls(
            burst=burst,
            per_day=per_day,
            per_second=per_second,
        )

        return stream_quota_patch
