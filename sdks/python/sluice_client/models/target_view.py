from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TargetView")


@_attrs_define
class TargetView:
    """One (IP × provider) — or a pause of a whole IP (`ip|*`) or provider (`*|provider`).

    Attributes:
        rate_per_minute (int): The learned rate (messages per minute); never above the provider's limit.
        strikes (int): Throttling replies in a row.
        target (str):  Example: 192.0.2.10|gmail.
        suspended_until (datetime.datetime | None | Unset):
        suspension (None | str | Unset): `adaptive` (repeated throttling replies) or `manual`.
    """

    rate_per_minute: int
    strikes: int
    target: str
    suspended_until: datetime.datetime | None | Unset = UNSET
    suspension: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        rate_per_minute = self.rate_per_minute

        strikes = self.strikes

        target = self.target

        suspended_until: None | str | Unset
        if isinstance(self.suspended_until, Unset):
            suspended_until = UNSET
        elif isinstance(self.suspended_until, datetime.datetime):
            suspended_until = self.suspended_until.isoformat()
        else:
            suspended_until = self.suspended_until

        suspension: None | str | Unset
        if isinstance(self.suspension, Unset):
            suspension = UNSET
        else:
            suspension = self.suspension

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "rate_per_minute": rate_per_minute,
                "strikes": strikes,
                "target": target,
            }
        )
        if suspended_until is not UNSET:
            field_dict["suspended_until"] = suspended_until
        if suspension is not UNSET:
            field_dict["suspension"] = suspension

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        rate_per_minute = d.pop("rate_per_minute")

        strikes = d.pop("strikes")

        target = d.pop("target")

        def _parse_suspended_until(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                suspended_until_type_0 = datetime.datetime.fromisoformat(data)

                return suspended_until_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        suspended_until = _parse_suspended_until(d.pop("suspended_until", UNSET))

        def _parse_suspension(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        suspension = _parse_suspension(d.pop("suspension", UNSET))

        target_view = cls(
            rate_per_minute=rate_per_minute,
            strikes=strikes,
            target=target,
            suspended_until=suspended_until,
            suspension=suspension,
        )

        target_view.additional_properties = d
        return target_view

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
