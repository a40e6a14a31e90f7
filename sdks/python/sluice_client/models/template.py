from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="Template")


@_attrs_define
class Template:
    """One version of a template.

    Attributes:
        created_at (datetime.datetime): When the template (version 1) was created.
        id (str): Identifier: `tpl_` followed by a ULID.
        latest_version (int): The newest version. Only the last 50 versions are kept. Example: 2.
        name (str):
        subject (str):
        updated_at (datetime.datetime): When the version shown was saved.
        version (int): The version shown (1 for the first; each `PUT` adds one). Example: 2.
        html (None | str | Unset):
        text (None | str | Unset):
    """

    created_at: datetime.datetime
    id: str
    latest_version: int
    name: str
    subject: str
    updated_at: datetime.datetime
    version: int
    html: None | str | Unset = UNSET
    text: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        id = self.id

        latest_version = self.latest_version

        name = self.name

        subject = self.subject

        updated_at = self.updated_at.isoformat()

        version = self.version

        html: None | str | Unset
        if isinstance(self.html, Unset):
            html = UNSET
        else:
            html = self.html

        text: None | str | Unset
        if isinstance(self.text, Unset):
            text = UNSET
        else:
            text = self.text

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "latest_version": latest_version,
                "name": name,
                "subject": subject,
                "updated_at": updated_at,
                "version": version,
            }
        )
        if html is not UNSET:
            field_dict["html"] = html
        if text is not UNSET:
            field_dict["text"] = text

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = d.pop("id")

        latest_version = d.pop("latest_version")

        name = d.pop("name")

        subject = d.pop("subject")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        version = d.pop("version")

        def _parse_html(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        html = _parse_html(d.pop("html", UNSET))

        def _parse_text(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        text = _parse_text(d.pop("text", UNSET))

        template = cls(
            created_at=created_at,
            id=id,
            latest_version=latest_version,
            name=name,
            subject=subject,
            updated_at=updated_at,
            version=version,
            html=html,
            text=text,
        )

        template.additional_properties = d
        return template

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
