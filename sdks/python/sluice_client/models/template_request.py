from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="TemplateRequest")


@_attrs_define
class TemplateRequest:
    """The body of `POST /v1/templates` and `PUT /v1/templates/{id}` (a PUT replaces the
    whole template and makes a new version).

        Example:
            {'html': '<p>Hello {{ user.name }},</p><p>your sign-in code is <b>{{ code }}</b>.</p>', 'name': 'sign-in code',
                'subject': 'Your code is {{ code }}', 'text': 'Hello {{ user.name }},\\n\\nyour sign-in code is {{ code }}.'}

        Attributes:
            name (str): A label for people (1 to 200 characters); not unique, not versioned.
            subject (str): Subject template, one line (at most 998 bytes). Required.
            html (None | str | Unset): HTML body template. Values are HTML-escaped unless marked `|safe`.
            text (None | str | Unset): Plain-text body template. At least one of `text` and `html` is required (each
                at most 512 KiB). Values are inserted as they are.
    """

    name: str
    subject: str
    html: None | str | Unset = UNSET
    text: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        subject = self.subject

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

        field_dict.update(
            {
                "name": name,
                "subject": subject,
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
        name = d.pop("name")

        subject = d.pop("subject")

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

        template_request = cls(
            name=name,
            subject=subject,
            html=html,
            text=text,
        )

        return template_request
