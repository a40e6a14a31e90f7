from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.dns_check import DnsCheck


T = TypeVar("T", bound="DomainEventData")


@_attrs_define
class DomainEventData:
    """A `domain.verification_failed` event's subject: the domain and the records that
    stopped verifying.

        Attributes:
            failed_records (list[DnsCheck]):
            name (str):  Example: acme.test.
    """

    failed_records: list[DnsCheck]
    name: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        failed_records = []
        for failed_records_item_data in self.failed_records:
            failed_records_item = failed_records_item_data.to_dict()
            failed_records.append(failed_records_item)

        name = self.name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "failed_records": failed_records,
                "name": name,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dns_check import DnsCheck  # noqa: PLC0415

        d = dict(src_dict)
        failed_records = []
        _failed_records = d.pop("failed_records")
        for failed_records_item_data in _failed_records:
            failed_records_item = DnsCheck.from_dict(failed_records_item_data)

            failed_records.append(failed_records_item)

        name = d.pop("name")

        domain_event_data = cls(
            failed_records=failed_records,
            name=name,
        )

        domain_event_data.additional_properties = d
        return domain_event_data

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
