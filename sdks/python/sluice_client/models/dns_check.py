from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.dns_check_status import DnsCheckStatus
from ..models.dns_record_purpose import DnsRecordPurpose
from ..types import UNSET, Unset

T = TypeVar("T", bound="DnsCheck")


@_attrs_define
class DnsCheck:
    """One DNS record as the last verification found it.

    Attributes:
        expected (str): What should be published (for SPF, the part that must be in the record). Example: v=DKIM1;
            k=rsa; p=MIIBIjANBgkqh….
        found (list[str]): The records of this kind that were found, strings of one record joined.
        name (str): The name looked up. Example: sluice20261122ab12._domainkey.acme.test.
        purpose (DnsRecordPurpose):
        required (bool): Whether the domain's status depends on this record: active DKIM keys and SPF
            do; pending and retiring keys and DMARC are reported only.
        status (DnsCheckStatus): The outcome of looking up one DNS record.
        detail (None | str | Unset): Why it did not verify, in words.
        selector (None | str | Unset): For DKIM: the key's selector.
    """

    expected: str
    found: list[str]
    name: str
    purpose: DnsRecordPurpose
    required: bool
    status: DnsCheckStatus
    detail: None | str | Unset = UNSET
    selector: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        expected = self.expected

        found = self.found

        name = self.name

        purpose = self.purpose.value

        required = self.required

        status = self.status.value

        detail: None | str | Unset
        if isinstance(self.detail, Unset):
            detail = UNSET
        else:
            detail = self.detail

        selector: None | str | Unset
        if isinstance(self.selector, Unset):
            selector = UNSET
        else:
            selector = self.selector

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "expected": expected,
                "found": found,
                "name": name,
                "purpose": purpose,
                "required": required,
                "status": status,
            }
        )
        if detail is not UNSET:
            field_dict["detail"] = detail
        if selector is not UNSET:
            field_dict["selector"] = selector

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        expected = d.pop("expected")

        found = cast(list[str], d.pop("found"))

        name = d.pop("name")

        purpose = DnsRecordPurpose(d.pop("purpose"))

        required = d.pop("required")

        status = DnsCheckStatus(d.pop("status"))

        def _parse_detail(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        detail = _parse_detail(d.pop("detail", UNSET))

        def _parse_selector(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        selector = _parse_selector(d.pop("selector", UNSET))

        dns_check = cls(
            expected=expected,
            found=found,
            name=name,
            purpose=purpose,
            required=required,
            status=status,
            detail=detail,
            selector=selector,
        )

        dns_check.additional_properties = d
        return dns_check

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
