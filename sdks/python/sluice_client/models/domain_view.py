from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.dkim_info import DkimInfo
    from ..models.dkim_key_view import DkimKeyView
    from ..models.dns_record import DnsRecord
    from ..models.domain_verification import DomainVerification


T = TypeVar("T", bound="DomainView")


@_attrs_define
class DomainView:
    """
    Attributes:
        created_at (datetime.datetime):
        dkim (DkimInfo):
        dkim_keys (list[DkimKeyView]): Every key: active, pending (waiting for its record) and retiring.
        dns_records (list[DnsRecord]): Every record to publish: the DKIM record of each key (active first), SPF, DMARC
            and the return path.
        name (str):  Example: acme.test.
        verification (DomainVerification): A domain's verification state and the records behind it.
    """

    created_at: datetime.datetime
    dkim: DkimInfo
    dkim_keys: list[DkimKeyView]
    dns_records: list[DnsRecord]
    name: str
    verification: DomainVerification
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        dkim = self.dkim.to_dict()

        dkim_keys = []
        for dkim_keys_item_data in self.dkim_keys:
            dkim_keys_item = dkim_keys_item_data.to_dict()
            dkim_keys.append(dkim_keys_item)

        dns_records = []
        for dns_records_item_data in self.dns_records:
            dns_records_item = dns_records_item_data.to_dict()
            dns_records.append(dns_records_item)

        name = self.name

        verification = self.verification.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "dkim": dkim,
                "dkim_keys": dkim_keys,
                "dns_records": dns_records,
                "name": name,
                "verification": verification,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dkim_info import DkimInfo  # noqa: PLC0415
        from ..models.dkim_key_view import DkimKeyView  # noqa: PLC0415
        from ..models.dns_record import DnsRecord  # noqa: PLC0415
        from ..models.domain_verification import DomainVerification  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        dkim = DkimInfo.from_dict(d.pop("dkim"))

        dkim_keys = []
        _dkim_keys = d.pop("dkim_keys")
        for dkim_keys_item_data in _dkim_keys:
            dkim_keys_item = DkimKeyView.from_dict(dkim_keys_item_data)

            dkim_keys.append(dkim_keys_item)

        dns_records = []
        _dns_records = d.pop("dns_records")
        for dns_records_item_data in _dns_records:
            dns_records_item = DnsRecord.from_dict(dns_records_item_data)

            dns_records.append(dns_records_item)

        name = d.pop("name")

        verification = DomainVerification.from_dict(d.pop("verification"))

        domain_view = cls(
            created_at=created_at,
            dkim=dkim,
            dkim_keys=dkim_keys,
            dns_records=dns_records,
            name=name,
            verification=verification,
        )

        domain_view.additional_properties = d
        return domain_view

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
