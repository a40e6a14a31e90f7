from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.bounce_class import BounceClass
from ..models.bounce_type import BounceType

T = TypeVar("T", bound="Bounce")


@_attrs_define
class Bounce:
    """The classification of a `message.bounced` event.

    Attributes:
        class_ (BounceClass): Why a recipient bounced, in the coarse classes senders act on.
        type_ (BounceType): Whether a bounce is final for the address (hard) or about this message only (soft).
    """

    class_: BounceClass
    type_: BounceType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        class_ = self.class_.value

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "class": class_,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        class_ = BounceClass(d.pop("class"))

        type_ = BounceType(d.pop("type"))

        bounce = cls(
            class_=class_,
            type_=type_,
        )

        bounce.additional_properties = d
        return bounce

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
