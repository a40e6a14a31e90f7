from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.stream_quota import StreamQuota


T = TypeVar("T", bound="TenantQuotas")


@_attrs_define
class TenantQuotas:
    """The limits of both streams.

    Attributes:
        bulk (StreamQuota): One stream's limits.
        transactional (StreamQuota): One stream's limits.
    """

    bulk: StreamQuota
    transactional: StreamQuota
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        bulk = self.bulk.to_dict()

        transactional = self.transactional.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "bulk": bulk,
                "transactional": transactional,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.stream_quota import StreamQuota  # noqa: PLC0415

        d = dict(src_dict)
        bulk = StreamQuota.from_dict(d.pop("bulk"))

        transactional = StreamQuota.from_dict(d.pop("transactional"))

        tenant_quotas = cls(
            bulk=bulk,
            transactional=transactional,
        )

        tenant_quotas.additional_properties = d
        return tenant_quotas

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
