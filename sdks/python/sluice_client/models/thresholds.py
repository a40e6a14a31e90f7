from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Thresholds")


@_attrs_define
class Thresholds:
    """A pair of thresholds, one per rate.

    Attributes:
        complaint_rate (float): A rate as a fraction (0.001 = 0.1 %). Compared and serialised as a plain number.
        hard_bounce_rate (float): A rate as a fraction (0.001 = 0.1 %). Compared and serialised as a plain number.
    """

    complaint_rate: float
    hard_bounce_rate: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        complaint_rate = self.complaint_rate

        hard_bounce_rate = self.hard_bounce_rate

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "complaint_rate": complaint_rate,
                "hard_bounce_rate": hard_bounce_rate,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        complaint_rate = d.pop("complaint_rate")

        hard_bounce_rate = d.pop("hard_bounce_rate")

        thresholds = cls(
            complaint_rate=complaint_rate,
            hard_bounce_rate=hard_bounce_rate,
        )

        thresholds.additional_properties = d
        return thresholds

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
