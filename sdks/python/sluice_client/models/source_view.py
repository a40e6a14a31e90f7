from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.warmup_schedule_view import WarmupScheduleView


T = TypeVar("T", bound="SourceView")


@_attrs_define
class SourceView:
    """
    Attributes:
        ehlo_name (str):  Example: mta1.example.com.
        ip (str):  Example: 192.0.2.10.
        warmup (None | Unset | WarmupScheduleView):
    """

    ehlo_name: str
    ip: str
    warmup: None | Unset | WarmupScheduleView = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.warmup_schedule_view import WarmupScheduleView  # noqa: PLC0415

        ehlo_name = self.ehlo_name

        ip = self.ip

        warmup: dict[str, Any] | None | Unset
        if isinstance(self.warmup, Unset):
            warmup = UNSET
        elif isinstance(self.warmup, WarmupScheduleView):
            warmup = self.warmup.to_dict()
        else:
            warmup = self.warmup

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "ehlo_name": ehlo_name,
                "ip": ip,
            }
        )
        if warmup is not UNSET:
            field_dict["warmup"] = warmup

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.warmup_schedule_view import WarmupScheduleView  # noqa: PLC0415

        d = dict(src_dict)
        ehlo_name = d.pop("ehlo_name")

        ip = d.pop("ip")

        def _parse_warmup(data: object) -> None | Unset | WarmupScheduleView:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                warmup_type_0 = WarmupScheduleView.from_dict(data)

                return warmup_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | WarmupScheduleView, data)

        warmup = _parse_warmup(d.pop("warmup", UNSET))

        source_view = cls(
            ehlo_name=ehlo_name,
            ip=ip,
            warmup=warmup,
        )

        source_view.additional_properties = d
        return source_view

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
