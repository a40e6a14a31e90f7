from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.recipient_kind import RecipientKind
from ..models.recipient_status import RecipientStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.smtp_reply import SmtpReply


T = TypeVar("T", bound="RecipientState")


@_attrs_define
class RecipientState:
    """
    Attributes:
        address (str):  Example: jane@example.com.
        attempts (int): Delivery attempts made for this recipient so far.
        kind (RecipientKind):
        status (RecipientStatus):
        updated_at (datetime.datetime):
        smtp_reply (None | SmtpReply | Unset):
    """

    address: str
    attempts: int
    kind: RecipientKind
    status: RecipientStatus
    updated_at: datetime.datetime
    smtp_reply: None | SmtpReply | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.smtp_reply import SmtpReply  # noqa: PLC0415

        address = self.address

        attempts = self.attempts

        kind = self.kind.value

        status = self.status.value

        updated_at = self.updated_at.isoformat()

        smtp_reply: dict[str, Any] | None | Unset
        if isinstance(self.smtp_reply, Unset):
            smtp_reply = UNSET
        elif isinstance(self.smtp_reply, SmtpReply):
            smtp_reply = self.smtp_reply.to_dict()
        else:
            smtp_reply = self.smtp_reply

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "address": address,
                "attempts": attempts,
                "kind": kind,
                "status": status,
                "updated_at": updated_at,
            }
        )
        if smtp_reply is not UNSET:
            field_dict["smtp_reply"] = smtp_reply

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.smtp_reply import SmtpReply  # noqa: PLC0415

        d = dict(src_dict)
        address = d.pop("address")

        attempts = d.pop("attempts")

        kind = RecipientKind(d.pop("kind"))

        status = RecipientStatus(d.pop("status"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_smtp_reply(data: object) -> None | SmtpReply | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                smtp_reply_type_0 = SmtpReply.from_dict(data)

                return smtp_reply_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SmtpReply | Unset, data)

        smtp_reply = _parse_smtp_reply(d.pop("smtp_reply", UNSET))

        recipient_state = cls(
            address=address,
            attempts=attempts,
            kind=kind,
            status=status,
            updated_at=updated_at,
            smtp_reply=smtp_reply,
        )

        recipient_state.additional_properties = d
        return recipient_state

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
