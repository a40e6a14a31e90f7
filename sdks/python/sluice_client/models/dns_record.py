from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.dns_record_purpose import DnsRecordPurpose

T = TypeVar("T", bound="DnsRecord")


@_attrs_define
class DnsRecord:
    """
    Attributes:
        name (str):  Example: sluice20261122._domainkey.acme.test.
        purpose (DnsRecordPurpose):
        type_ (str):  Example: TXT.
        value (str):  Example: v=DKIM1; k=rsa; p=MIIBIjANBgkqh….
    """

    name: str
    purpose: DnsRecordPurpose
    type_: str
    value: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        purpose = self.purpose.value

        type_ = self.type_

        value = self.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "purpose": purpose,
                "type": type_,
                "value": value,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        purpose = DnsRecordPurpose(d.pop("purpose"))

        type_ = d.pop("type")

        value = d.pop("value")

        dns_record = cls(
            name=name,
            purpose=purpose,
            type_=type_,
            value=value,
        )

        dns_record.additional_properties = d
        return dns_record

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
