from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="SmtpReply")


@_attrs_define
class SmtpReply:
    """A reply from the receiving SMTP server, kept verbatim for the sender to read.

    Attributes:
        code (int):  Example: 250.
        message (str):  Example: Ok: queued as 4Xk2.
        enhanced_code (None | str | Unset): RFC 3463 enhanced status code, when the server sent one. Example: 2.0.0.
    """

    code: int
    message: str
    enhanced_code: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        message = self.message

        enhanced_code: None | str | Unset
        if isinstance(self.enhanced_code, Unset):
            enhanced_code = UNSET
        else:
            enhanced_code = self.enhanced_code

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
                "message": message,
            }
        )
        if enhanced_code is not UNSET:
            field_dict["enhanced_code"] = enhanced_code

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        message = d.pop("message")

        def _parse_enhanced_code(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        enhanced_code = _parse_enhanced_code(d.pop("enhanced_code", UNSET))

        smtp_reply = cls(
            code=code,
            message=message,
            enhanced_code=enhanced_code,
        )

        smtp_reply.additional_properties = d
        return smtp_reply

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
