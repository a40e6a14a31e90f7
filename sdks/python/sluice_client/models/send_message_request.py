from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.message_stream import MessageStream
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.attachment_request import AttachmentRequest
    from ..models.send_message_request_headers import SendMessageRequestHeaders
    from ..models.send_message_request_metadata import SendMessageRequestMetadata
    from ..models.send_message_request_template_data_type_0 import SendMessageRequestTemplateDataType0


T = TypeVar("T", bound="SendMessageRequest")


@_attrs_define
class SendMessageRequest:
    """The body of `POST /v1/messages`.

    Example:
        {'from': 'Acme <noreply@acme.test>', 'html': '<p>Your code is <b>123456</b></p>', 'metadata': {'user_id': '42'},
            'subject': 'Your sign-in code', 'tags': ['otp'], 'text': 'Your code is 123456', 'to': ['Jane Doe
            <jane@example.com>']}

    Attributes:
        from_ (str): Sender mailbox; its domain must be one of the tenant's domains.
        attachments (list[AttachmentRequest] | Unset): Files to attach (at most 100; the message's size limit counts
            them).
        bcc (list[str] | Unset): Blind copies: in the envelope, never in the headers.
        cc (list[str] | Unset):
        headers (SendMessageRequestHeaders | Unset): Extra headers, name to value: a string is one header line, an array
            of strings
            one line per element, in order (for headers that repeat, such as `Received`).
            Names that differ only in case are the same header. Structural headers (From,
            To, Date, Message-ID, MIME-Version, Content-*, DKIM-Signature, …) are set by
            Sluice and refused here. More than 25 `Received` lines mean a mail loop and are
            refused; `Auto-Submitted` must be an RFC 3834 value (`no`, `auto-generated`,
            `auto-replied`, `auto-notified`, optionally with `; name=value` parameters). Example: {'Received': ['from a by
            b; Mon, 1 Dec 2026 10:00:00 +0000'], 'X-Campaign': 'spring'}.
        html (None | str | Unset):
        metadata (SendMessageRequestMetadata | Unset): Your own key/value pairs, echoed back in message views and
            events.
        reply_to (None | str | Unset):
        send_at (datetime.datetime | None | Unset): RFC 3339 time to send at, up to 30 days ahead. Omit to send now.
        stream (MessageStream | None | Unset):
        subject (str | Unset): Required, unless `template_id` is given: the template supplies it then, and a
            `subject` here is refused.
        tags (list[str] | Unset): Labels for filtering events (at most 10, each 1 to 128 characters).
        template_data (None | SendMessageRequestTemplateDataType0 | Unset): The template's variables. Every variable the
            template prints must be here: a
            missing one is a 422, not an empty string. Only with `template_id`. Example: {'code': '123456', 'user': {'name':
            'Jane'}}.
        template_id (None | str | Unset): A template (`tpl_…`, see `/v1/templates`) that supplies `subject`, `text` and
            `html`, rendered with `template_data` when the message is accepted. Example: tpl_01jdx8k3m5n6p7q8r9s0t1v2w3.
        template_version (int | None | Unset): The template version to render (default: the latest). Only with
            `template_id`. Example: 2.
        text (None | str | Unset): Plain-text body. At least one of `text` and `html` is required without
            `template_id`; with it, both must be absent.
        to (list[str] | Unset): Recipient mailboxes (`to`, `cc` and `bcc` together: 1 to 50).
    """

    from_: str
    attachments: list[AttachmentRequest] | Unset = UNSET
    bcc: list[str] | Unset = UNSET
    cc: list[str] | Unset = UNSET
    headers: SendMessageRequestHeaders | Unset = UNSET
    html: None | str | Unset = UNSET
    metadata: SendMessageRequestMetadata | Unset = UNSET
    reply_to: None | str | Unset = UNSET
    send_at: datetime.datetime | None | Unset = UNSET
    stream: MessageStream | None | Unset = UNSET
    subject: str | Unset = UNSET
    tags: list[str] | Unset = UNSET
    template_data: None | SendMessageRequestTemplateDataType0 | Unset = UNSET
    template_id: None | str | Unset = UNSET
    template_version: int | None | Unset = UNSET
    text: None | str | Unset = UNSET
    to: list[str] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.send_message_request_template_data_type_0 import SendMessageRequestTemplateDataType0  # noqa: PLC0415

        from_ = self.from_

        attachments: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.attachments, Unset):
            attachments = []
            for attachments_item_data in self.attachments:
                attachments_item = attachments_item_data.to_dict()
                attachments.append(attachments_item)

        bcc: list[str] | Unset = UNSET
        if not isinstance(self.bcc, Unset):
            bcc = self.bcc

        cc: list[str] | Unset = UNSET
        if not isinstance(self.cc, Unset):
            cc = self.cc

        headers: dict[str, Any] | Unset = UNSET
        if not isinstance(self.headers, Unset):
            headers = self.headers.to_dict()

        html: None | str | Unset
        if isinstance(self.html, Unset):
            html = UNSET
        else:
            html = self.html

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        reply_to: None | str | Unset
        if isinstance(self.reply_to, Unset):
            reply_to = UNSET
        else:
            reply_to = self.reply_to

        send_at: None | str | Unset
        if isinstance(self.send_at, Unset):
            send_at = UNSET
        elif isinstance(self.send_at, datetime.datetime):
            send_at = self.send_at.isoformat()
        else:
            send_at = self.send_at

        stream: None | str | Unset
        if isinstance(self.stream, Unset):
            stream = UNSET
        elif isinstance(self.stream, MessageStream):
            stream = self.stream.value
        else:
            stream = self.stream

        subject = self.subject

        tags: list[str] | Unset = UNSET
        if not isinstance(self.tags, Unset):
            tags = self.tags

        template_data: dict[str, Any] | None | Unset
        if isinstance(self.template_data, Unset):
            template_data = UNSET
        elif isinstance(self.template_data, SendMessageRequestTemplateDataType0):
            template_data = self.template_data.to_dict()
        else:
            template_data = self.template_data

        template_id: None | str | Unset
        if isinstance(self.template_id, Unset):
            template_id = UNSET
        else:
            template_id = self.template_id

        template_version: int | None | Unset
        if isinstance(self.template_version, Unset):
            template_version = UNSET
        else:
            template_version = self.template_version

        text: None | str | Unset
        if isinstance(self.text, Unset):
            text = UNSET
        else:
            text = self.text

        to: list[str] | Unset = UNSET
        if not isinstance(self.to, Unset):
            to = self.to

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "from": from_,
            }
        )
        if attachments is not UNSET:
            field_dict["attachments"] = attachments
        if bcc is not UNSET:
            field_dict["bcc"] = bcc
        if cc is not UNSET:
            field_dict["cc"] = cc
        if headers is not UNSET:
            field_dict["headers"] = headers
        if html is not UNSET:
            field_dict["html"] = html
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if reply_to is not UNSET:
            field_dict["reply_to"] = reply_to
        if send_at is not UNSET:
            field_dict["send_at"] = send_at
        if stream is not UNSET:
            field_dict["stream"] = stream
        if subject is not UNSET:
            field_dict["subject"] = subject
        if tags is not UNSET:
            field_dict["tags"] = tags
        if template_data is not UNSET:
            field_dict["template_data"] = template_data
        if template_id is not UNSET:
            field_dict["template_id"] = template_id
        if template_version is not UNSET:
            field_dict["template_version"] = template_version
        if text is not UNSET:
            field_dict["text"] = text
        if to is not UNSET:
            field_dict["to"] = to

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.attachment_request import AttachmentRequest  # noqa: PLC0415
        from ..models.send_message_request_headers import SendMessageRequestHeaders  # noqa: PLC0415
        from ..models.send_message_request_metadata import SendMessageRequestMetadata  # noqa: PLC0415
        from ..models.send_message_request_template_data_type_0 import SendMessageRequestTemplateDataType0  # noqa: PLC0415

        d = dict(src_dict)
        from_ = d.pop("from")

        _attachments = d.pop("attachments", UNSET)
        attachments: list[AttachmentRequest] | Unset = UNSET
        if _attachments is not UNSET:
            attachments = []
            for attachments_item_data in _attachments:
                attachments_item = AttachmentRequest.from_dict(attachments_item_data)

                attachments.append(attachments_item)

        bcc = cast(list[str], d.pop("bcc", UNSET))

        cc = cast(list[str], d.pop("cc", UNSET))

        _headers = d.pop("headers", UNSET)
        headers: SendMessageRequestHeaders | Unset
        if isinstance(_headers, Unset):
            headers = UNSET
        else:
            headers = SendMessageRequestHeaders.from_dict(_headers)

        def _parse_html(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        html = _parse_html(d.pop("html", UNSET))

        _metadata = d.pop("metadata", UNSET)
        metadata: SendMessageRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = SendMessageRequestMetadata.from_dict(_metadata)

        def _parse_reply_to(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reply_to = _parse_reply_to(d.pop("reply_to", UNSET))

        def _parse_send_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                send_at_type_0 = datetime.datetime.fromisoformat(data)

                return send_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        send_at = _parse_send_at(d.pop("send_at", UNSET))

        def _parse_stream(data: object) -> MessageStream | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                stream_type_0 = MessageStream(data)

                return stream_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(MessageStream | None | Unset, data)

        stream = _parse_stream(d.pop("stream", UNSET))

        subject = d.pop("subject", UNSET)

        tags = cast(list[str], d.pop("tags", UNSET))

        def _parse_template_data(data: object) -> None | SendMessageRequestTemplateDataType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                template_data_type_0 = SendMessageRequestTemplateDataType0.from_dict(data)

                return template_data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SendMessageRequestTemplateDataType0 | Unset, data)

        template_data = _parse_template_data(d.pop("template_data", UNSET))

        def _parse_template_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        template_id = _parse_template_id(d.pop("template_id", UNSET))

        def _parse_template_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        template_version = _parse_template_version(d.pop("template_version", UNSET))

        def _parse_text(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        text = _parse_text(d.pop("text", UNSET))

        to = cast(list[str], d.pop("to", UNSET))

        send_message_request = cls(
            from_=from_,
            attachments=attachments,
            bcc=bcc,
            cc=cc,
            headers=headers,
            html=html,
            metadata=metadata,
            reply_to=reply_to,
            send_at=send_at,
            stream=stream,
            subject=subject,
            tags=tags,
            template_data=template_data,
            template_id=template_id,
            template_version=template_version,
            text=text,
            to=to,
        )

        return send_message_request
