from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.quotas_patch import QuotasPatch
    from ..models.update_tenant_request_pools_type_0 import UpdateTenantRequestPoolsType0


T = TypeVar("T", bound="UpdateTenantRequest")


@_attrs_define
class UpdateTenantRequest:
    """
    Attributes:
        pools (None | Unset | UpdateTenantRequestPoolsType0): The pool (from `delivery.pools`) each stream sends from;
            `null` returns a stream
            to the configured default. Example: {'bulk': 'bulk-ips'}.
        quotas (None | QuotasPatch | Unset):
    """

    pools: None | Unset | UpdateTenantRequestPoolsType0 = UNSET
    quotas: None | QuotasPatch | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.quotas_patch import QuotasPatch  # noqa: PLC0415
        from ..models.update_tenant_request_pools_type_0 import UpdateTenantRequestPoolsType0  # noqa: PLC0415

        pools: dict[str, Any] | None | Unset
        if isinstance(self.pools, Unset):
            pools = UNSET
        elif isinstance(self.pools, UpdateTenantRequestPoolsType0):
            pools = self.pools.to_dict()
        else:
            pools = self.pools

        quotas: dict[str, Any] | None | Unset
        if isinstance(self.quotas, Unset):
            quotas = UNSET
        elif isinstance(self.quotas, QuotasPatch):
            quotas = self.quotas.to_dict()
        else:
            quotas = self.quotas

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if pools is not UNSET:
            field_dict["pools"] = pools
        if quotas is not UNSET:
            field_dict["quotas"] = quotas

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.quotas_patch import QuotasPatch  # noqa: PLC0415
        from ..models.update_tenant_request_pools_type_0 import UpdateTenantRequestPoolsType0  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_pools(data: object) -> None | Unset | UpdateTenantRequestPoolsType0:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                pools_type_0 = UpdateTenantRequestPoolsType0.from_dict(data)

                return pools_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UpdateTenantRequestPoolsType0, data)

        pools = _parse_pools(d.pop("pools", UNSET))

        def _parse_quotas(data: object) -> None | QuotasPatch | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                quotas_type_0 = QuotasPatch.from_dict(data)

                return quotas_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | QuotasPatch | Unset, data)

        quotas = _parse_quotas(d.pop("quotas", UNSET))

        update_tenant_request = cls(
            pools=pools,
            quotas=quotas,
        )

        return update_tenant_request
