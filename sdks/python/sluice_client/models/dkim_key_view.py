from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.dkim_algorithm import DkimAlgorithm
from ..models.dkim_key_state import DkimKeyState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dns_record import DnsRecord


T = TypeVar("T", bound="DkimKeyView")


@_attrs_define
class DkimKeyView:
    """One DKIM key of a domain (the public half; private keys never leave Sluice).

    Attributes:
        advice (str): What to do with the record now. Example: Keep this record published until 2026-11-29T10:00:00Z..
        algorithm (DkimAlgorithm):
        created_at (datetime.datetime):
        dns_record (DnsRecord):
        public_key (str): Base64 public key, as it appears after `p=`.
        selector (str):  Example: sluice20261122ab12.
        state (DkimKeyState): Where a DKIM key is in its life. A rotation adds a `pending` key; it becomes
            `active` (and the key it replaces `retiring`) only once its DNS record verifies,
            so mail is never signed with a key receivers cannot look up yet.
        activated_at (datetime.datetime | None | Unset):
        retire_at (datetime.datetime | None | Unset): For a retiring key: when it is dropped and its record may be
            removed.
    """

    advice: str
    algorithm: DkimAlgorithm
    created_at: datetime.datetime
    dns_record: DnsRecord
    public_key: str
    selector: str
    state: DkimKeyState
    activated_at: datetime.datetime | None | Unset = UNSET
    retire_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        advice = self.advice

        algorithm = self.algorithm.value

        created_at = self.created_at.isoformat()

        dns_record = self.dns_record.to_dict()

        public_key = self.public_key

        selector = self.selector

        state = self.state.value

        activated_at: None | str | Unset
        if isinstance(self.activated_at, Unset):
            activated_at = UNSET
        elif isinstance(self.activated_at, datetime.datetime):
            activated_at = self.activated_at.isoformat()
        else:
            activated_at = self.activated_at

        retire_at: None | str | Unset
        if isinstance(self.retire_at, Unset):
            retire_at = UNSET
        elif isinstance(self.retire_at, datetime.datetime):
            retire_at = self.retire_at.isoformat()
        else:
            retire_at = self.retire_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "advice": advice,
                "algorithm": algorithm,
                "created_at": created_at,
                "dns_record": dns_record,
                "public_key": public_key,
                "selector": selector,
                "state": state,
            }
        )
        if activated_at is not UNSET:
            field_dict["activated_at"] = activated_at
        if retire_at is not UNSET:
            field_dict["retire_at"] = retire_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dns_record import DnsRecord  # noqa: PLC0415

        d = dict(src_dict)
        advice = d.pop("advice")

        algorithm = DkimAlgorithm(d.pop("algorithm"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        dns_record = DnsRecord.from_dict(d.pop("dns_record"))

        public_key = d.pop("public_key")

        selector = d.pop("selector")

        state = DkimKeyState(d.pop("state"))

        def _parse_activated_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                activated_at_type_0 = datetime.datetime.fromisoformat(data)

                return activated_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        activated_at = _parse_activated_at(d.pop("activated_at", UNSET))

        def _parse_retire_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                retire_at_type_0 = datetime.datetime.fromisoformat(data)

                return retire_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        retire_at = _parse_retire_at(d.pop("retire_at", UNSET))

        dkim_key_view = cls(
            advice=advice,
            algorithm=algorithm,
            created_at=created_at,
            dns_record=dns_record,
            public_key=public_key,
            selector=selector,
            state=state,
            activated_at=activated_at,
            retire_at=retire_at,
        )

        dkim_key_view.additional_properties = d
        return dkim_key_view

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
