from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.bulk_pause import BulkPause
    from ..models.tenant_reputation_streams import TenantReputationStreams
    from ..models.thresholds import Thresholds


T = TypeVar("T", bound="TenantReputation")


@_attrs_define
class TenantReputation:
    """A tenant's reputation as `GET /v1/admin/tenants/{id}` shows it.

    Attributes:
        min_volume (int): No level is reached below this many delivered-or-hard-bounced recipients. Example: 1000.
        pause (Thresholds): A pair of thresholds, one per rate.
        review (Thresholds): A pair of thresholds, one per rate.
        streams (TenantReputationStreams): Each stream's figures over the window.
        window_seconds (int): The rolling window, in seconds. Example: 86400.
        bulk_paused (BulkPause | None | Unset):
    """

    min_volume: int
    pause: Thresholds
    review: Thresholds
    streams: TenantReputationStreams
    window_seconds: int
    bulk_paused: BulkPause | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.bulk_pause import BulkPause  # noqa: PLC0415

        min_volume = self.min_volume

        pause = self.pause.to_dict()

        review = self.review.to_dict()

        streams = self.streams.to_dict()

        window_seconds = self.window_seconds

        bulk_paused: dict[str, Any] | None | Unset
        if isinstance(self.bulk_paused, Unset):
            bulk_paused = UNSET
        elif isinstance(self.bulk_paused, BulkPause):
            bulk_paused = self.bulk_paused.to_dict()
        else:
            bulk_paused = self.bulk_paused

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "min_volume": min_volume,
                "pause": pause,
                "review": review,
                "streams": streams,
                "window_seconds": window_seconds,
            }
        )
        if bulk_paused is not UNSET:
            field_dict["bulk_paused"] = bulk_paused

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.bulk_pause import BulkPause  # noqa: PLC0415
        from ..models.tenant_reputation_streams import TenantReputationStreams  # noqa: PLC0415
        from ..models.thresholds import Thresholds  # noqa: PLC0415

        d = dict(src_dict)
        min_volume = d.pop("min_volume")

        pause = Thresholds.from_dict(d.pop("pause"))

        review = Thresholds.from_dict(d.pop("review"))

        streams = TenantReputationStreams.from_dict(d.pop("streams"))

        window_seconds = d.pop("window_seconds")

        def _parse_bulk_paused(data: object) -> BulkPause | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                bulk_paused_type_0 = BulkPause.from_dict(data)

                return bulk_paused_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(BulkPause | None | Unset, data)

        bulk_paused = _parse_bulk_paused(d.pop("bulk_paused", UNSET))

        tenant_reputation = cls(
            min_volume=min_volume,
            pause=pause,
            review=review,
            streams=streams,
            window_seconds=window_seconds,
            bulk_paused=bulk_paused,
        )

        tenant_reputation.additional_properties = d
        return tenant_reputation

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
