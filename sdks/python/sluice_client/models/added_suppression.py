from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.suppression_reason import SuppressionReason
from ..types import UNSET, Unset

T = TypeVar("T", bound="AddedSuppression")


@_attrs_define
class AddedSuppression:
    """
    Attributes:
        address (str): The address, lower-cased: matching ignores case. Example: jane@example.com.
        created_at (datetime.datetime):
        reason (SuppressionReason): Why an address is on the suppression list.
        added (bool): `false` when the address was already on the list: the entry shown is the one
            that was there (its first reason is kept).
        event_id (None | str | Unset): The event that added the address (`evt_…`, see `GET /v1/events`). Example:
            evt_1795376091664-0.
        message_id (None | str | Unset):
        note (None | str | Unset): Free text given when the address was added by hand.
    """

    address: str
    created_at: datetime.datetime
    reason: SuppressionReason
    added: bool
    event_id: None | str | Unset = UNSET
    message_id: None | str | Unset = UNSET
    note: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        address = self.address

        created_at = self.created_at.isoformat()

        reason = self.reason.value

        added = self.added

        event_id: None | str | Unset
        if isinstance(self.event_id, Unset):
            event_id = UNSET
        else:
            event_id = self.event_id

        message_id: None | str | Unset
        if isinstance(self.message_id, Unset):
            message_id = UNSET
        else:
            message_id = self.message_id

        note: None | str | Unset
        if isinstance(self.note, Unset):
            note = UNSET
        else:
            note = self.note

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "address": address,
                "created_at": created_at,
                "reason": reason,
                "added": added,
            }
        )
        if event_id is not UNSET:
            field_dict["event_id"] = event_id
        if message_id is not UNSET:
            field_dict["message_id"] = message_id
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        address = d.pop("address")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        reason = SuppressionReason(d.pop("reason"))

        added = d.pop("added")

        def _parse_event_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        event_id = _parse_event_id(d.pop("event_id", UNSET))

        def _parse_message_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        message_id = _parse_message_id(d.pop("message_id", UNSET))

        def _parse_note(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        note = _parse_note(d.pop("note", UNSET))

        added_suppression = cls(
            address=address,
            created_at=created_at,
            reason=reason,
            added=added,
            event_id=event_id,
            message_id=message_id,
            note=note,
        )

        added_suppression.additional_properties = d
        return added_suppression

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
