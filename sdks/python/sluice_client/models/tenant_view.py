from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.tenant_quotas import TenantQuotas
    from ..models.tenant_reputation import TenantReputation
    from ..models.tenant_view_pools import TenantViewPools


T = TypeVar("T", bound="TenantView")


@_attrs_define
class TenantView:
    """
    Attributes:
        created_at (datetime.datetime):
        id (str): Identifier: `ten_` followed by a ULID.
        name (str):  Example: acme.
        pools (TenantViewPools | Unset): Source-address pools this tenant sends from, per stream, instead of the
            configured defaults (`{"bulk": "bulk-ips"}`).
        quotas (None | TenantQuotas | Unset):
        reputation (None | TenantReputation | Unset):
    """

    created_at: datetime.datetime
    id: str
    name: str
    pools: TenantViewPools | Unset = UNSET
    quotas: None | TenantQuotas | Unset = UNSET
    reputation: None | TenantReputation | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.tenant_quotas import TenantQuotas  # noqa: PLC0415
        from ..models.tenant_reputation import TenantReputation  # noqa: PLC0415

        created_at = self.created_at.isoformat()

        id = self.id

        name = self.name

        pools: dict[str, Any] | Unset = UNSET
        if not isinstance(self.pools, Unset):
            pools = self.pools.to_dict()

        quotas: dict[str, Any] | None | Unset
        if isinstance(self.quotas, Unset):
            quotas = UNSET
        elif isinstance(self.quotas, TenantQuotas):
            quotas = self.quotas.to_dict()
        else:
            quotas = self.quotas

        reputation: dict[str, Any] | None | Unset
        if isinstance(self.reputation, Unset):
            reputation = UNSET
        elif isinstance(self.reputation, TenantReputation):
            reputation = self.reputation.to_dict()
        else:
            reputation = self.reputation

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "name": name,
            }
        )
        if pools is not UNSET:
            field_dict["pools"] = pools
        if quotas is not UNSET:
            field_dict["quotas"] = quotas
        if reputation is not UNSET:
            field_dict["reputation"] = reputation

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.tenant_quotas import TenantQuotas  # noqa: PLC0415
        from ..models.tenant_reputation import TenantReputation  # noqa: PLC0415
        from ..models.tenant_view_pools import TenantViewPools  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = d.pop("id")

        name = d.pop("name")

        _pools = d.pop("pools", UNSET)
        pools: TenantViewPools | Unset
        if isinstance(_pools, Unset):
            pools = UNSET
        else:
            pools = TenantViewPools.from_dict(_pools)

        def _parse_quotas(data: object) -> None | TenantQuotas | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                quotas_type_0 = TenantQuotas.from_dict(data)

                return quotas_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TenantQuotas | Unset, data)

        quotas = _parse_quotas(d.pop("quotas", UNSET))

        def _parse_reputation(data: object) -> None | TenantReputation | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                reputation_type_0 = TenantReputation.from_dict(data)

                return reputation_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TenantReputation | Unset, data)

        reputation = _parse_reputation(d.pop("reputation", UNSET))

        tenant_view = cls(
            created_at=created_at,
            id=id,
            name=name,
            pools=pools,
            quotas=quotas,
            reputation=reputation,
        )

        tenant_view.additional_properties = d
        return tenant_view

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
