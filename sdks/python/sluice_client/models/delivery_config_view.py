from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.dnsbl_zone_view import DnsblZoneView
    from ..models.pool_view import PoolView
    from ..models.provider_view import ProviderView


T = TypeVar("T", bound="DeliveryConfigView")


@_attrs_define
class DeliveryConfigView:
    """Static delivery configuration, as the API shows it.

    Attributes:
        dnsbl (list[DnsblZoneView]): The DNS blocklists every pool address is checked on (`[[delivery.dnsbl]]`).
        dnsbl_interval_seconds (int): How often they are checked (`delivery.dnsbl_interval`), in seconds.
        pools (list[PoolView]):
        providers (list[ProviderView]):
    """

    dnsbl: list[DnsblZoneView]
    dnsbl_interval_seconds: int
    pools: list[PoolView]
    providers: list[ProviderView]
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

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dnsbl": dnsbl,
                "dnsbl_interval_seconds": dnsbl_interval_seconds,
                "pools": pools,
                "providers": providers,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dnsbl_zone_view import DnsblZoneView  # noqa: PLC0415
        from ..models.pool_view import PoolView  # noqa: PLC0415
        from ..models.provider_view import ProviderView  # noqa: PLC0415

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

        delivery_config_view = cls(
            dnsbl=dnsbl,
            dnsbl_interval_seconds=dnsbl_interval_seconds,
            pools=pools,
            providers=providers,
        )

        delivery_config_view.additional_properties = d
        return delivery_config_view

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
