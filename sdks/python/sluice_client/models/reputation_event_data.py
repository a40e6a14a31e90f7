from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.stream_reputation import StreamReputation
    from ..models.thresholds import Thresholds


T = TypeVar("T", bound="ReputationEventData")


@_attrs_define
class ReputationEventData:
    """The subject of a `tenant.reputation_warning`, `tenant.paused` or `tenant.resumed` event.

    Attributes:
        figures (StreamReputation): One stream's standing over the window.
        window_seconds (int): The rolling window, in seconds.
        thresholds (None | Thresholds | Unset):
    """

    figures: StreamReputation
    window_seconds: int
    thresholds: None | Thresholds | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.thresholds import Thresholds  # noqa: PLC0415

        figures = self.figures.to_dict()

        window_seconds = self.window_seconds

        thresholds: dict[str, Any] | None | Unset
        if isinstance(self.thresholds, Unset):
            thresholds = UNSET
        elif isinstance(self.thresholds, Thresholds):
            thresholds = self.thresholds.to_dict()
        else:
            thresholds = self.thresholds

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "figures": figures,
                "window_seconds": window_seconds,
            }
        )
        if thresholds is not UNSET:
            field_dict["thresholds"] = thresholds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.stream_reputation import StreamReputation  # noqa: PLC0415
        from ..models.thresholds import Thresholds  # noqa: PLC0415

        d = dict(src_dict)
        figures = StreamReputation.from_dict(d.pop("figures"))

        window_seconds = d.pop("window_seconds")

        def _parse_thresholds(data: object) -> None | Thresholds | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                thresholds_type_0 = Thresholds.from_dict(data)

                return thresholds_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Thresholds | Unset, data)

        thresholds = _parse_thresholds(d.pop("thresholds", UNSET))

        reputation_event_data = cls(
            figures=figures,
            window_seconds=window_seconds,
            thresholds=thresholds,
        )

        reputation_event_data.additional_properties = d
        return reputation_event_data

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
