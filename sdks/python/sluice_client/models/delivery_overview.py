from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.blocklist_view import BlocklistView
    from ..models.dnsbl_zone_view import DnsblZoneView
    from ..models.pool_view import PoolView
    from ..models.provider_view import ProviderView
    from ..models.target_view import TargetView
    from ..models.warmup_progress_view import WarmupProgressView


T = TypeVar("T", bound="DeliveryOverview")


@_attrs_define
class DeliveryOverview:
    """
    Attributes:
        dnsbl (list[DnsblZoneView]): The DNS blocklists every pool address is checked on (`[[delivery.dnsbl]]`).
        dnsbl_interval_seconds (int): How often they are checked (`delivery.dnsbl_interval`), in seconds.
        pools (list[PoolView]):
        providers (list[ProviderView]):
        blocklist (BlocklistView): The watch's state.
        targets (list[TargetView]): Every target with learned state or a pause.
        warmup (list[WarmupProgressView]): Every (IP × provider) of a warming address that has sent or been set back.
    """

    dnsbl: list[DnsblZoneView]
    dnsbl_interval_seconds: int
    pools: list[PoolView]
    providers: list[ProviderView]
    blocklist: BlocklistView
    targets: list[TargetView]
    warmup: list[WarmupProgressView]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dnsbl = []
        for dnsbl_item_data in self.dnsbl:
            dnsbl_item = dnsbl_item_data.to_dict()
            dnsbl.append(dnsbl_item)

        dnsbl_interval_seconds = self.dnsbl_interval_seconds

        pools = []
        for pools_item_data in self.pools:
            pools_item = pools_item_data.to_dict()
            pools.append(pools_item)

        providers = []
        for providers_item_data in self.providers:
            providers_item = providers_item_data.to_dict()
            providers.append(providers_item)

        blocklist = self.blocklist.to_dict()

        targets = []
        for targets_item_data in self.targets:
            targets_item = targets_item_data.to_dict()
            targets.append(targets_item)

        warmup = []
        for warmup_item_data in self.warmup:
            warmup_item = warmup_item_data.to_dict()
            warmup.append(warmup_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dnsbl": dnsbl,
                "dnsbl_interval_seconds": dnsbl_interval_seconds,
                "pools": pools,
                "providers": providers,
                "blocklist": blocklist,
                "targets": targets,
                "warmup": warmup,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.blocklist_view import BlocklistView  # noqa: PLC0415
        from ..models.dnsbl_zone_view import DnsblZoneView  # noqa: PLC0415
        from ..models.pool_view import PoolView  # noqa: PLC0415
        from ..models.provider_view import ProviderView  # noqa: PLC0415
        from ..models.target_view import TargetView  # noqa: PLC0415
        from ..models.warmup_progress_view import WarmupProgressView  # noqa: PLC0415

        d = dict(src_dict)
        dnsbl = []
        _dnsbl = d.pop("dnsbl")
        for dnsbl_item_data in _dnsbl:
            dnsbl_item = DnsblZoneView.from_dict(dnsbl_item_data)

            dnsbl.append(dnsbl_item)

        dnsbl_interval_seconds = d.pop("dnsbl_interval_seconds")

        pools = []
        _pools = d.pop("pools")
        for pools_item_data in _pools:
            pools_item = PoolView.from_dict(pools_item_data)

            pools.append(pools_item)

        providers = []
        _providers = d.pop("providers")
        for providers_item_data in _providers:
            providers_item = ProviderView.from_dict(providers_item_data)

            providers.append(providers_item)

        blocklist = BlocklistView.from_dict(d.pop("blocklist"))

        targets = []
        _targets = d.pop("targets")
        for targets_item_data in _targets:
            targets_item = TargetView.from_dict(targets_item_data)

            targets.append(targets_item)

        warmup = []
        _warmup = d.pop("warmup")
        for warmup_item_data in _warmup:
            warmup_item = WarmupProgressView.from_dict(warmup_item_data)

            warmup.append(warmup_item)

        delivery_overview = cls(
            dnsbl=dnsbl,
            dnsbl_interval_seconds=dnsbl_interval_seconds,
            pools=pools,
            providers=providers,
            blocklist=blocklist,
            targets=targets,
            warmup=warmup,
        )

        delivery_overview.additional_properties = d
        return delivery_overview

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
