from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.message_status import MessageStatus
from ..models.message_stream import MessageStream
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.message_event import MessageEvent
    from ..models.message_view_metadata import MessageViewMetadata
    from ..models.recipient_state import RecipientState


T = TypeVar("T", bound="MessageView")


@_attrs_define
class MessageView:
    """`GET /v1/messages/{id}`.

    Attributes:
        attempts (int): Delivery attempts made so far (each covers every unfinished recipient).
        created_at (datetime.datetime):
        events (list[MessageEvent]): Every event of this message, oldest first.
        from_ (str):  Example: "Acme" <noreply@acme.test>.
        id (str): Identifier: `msg_` followed by a ULID.
        message_id_header (str): The `Message-ID` header the message carries, for matching replies and bounces. Example:
            <msg_01jdx8k3m5n6p7q8r9s0t1v2w3@acme.test>.
        metadata (MessageViewMetadata):
        recipients (list[RecipientState]):
        status (MessageStatus):
        stream (MessageStream): Which queue a message travels in. Transactional mail is always served first.
        subject (str):
        tags (list[str]):
        updated_at (datetime.datetime):
        next_attempt_at (datetime.datetime | None | Unset): When the next attempt is due, for scheduled and deferred
            messages.
        test (bool | Unset): `true` when sent with a sandbox (test) key: delivery is simulated, nothing is
            sent. Absent for real mail.
    """

    attempts: int
    created_at: datetime.datetime
    events: list[MessageEvent]
    from_: str
    id: str
    message_id_header: str
    metadata: MessageViewMetadata
    recipients: list[RecipientState]
    status: MessageStatus
    stream: MessageStream
    subject: str
    tags: list[str]
    updated_at: datetime.datetime
    next_attempt_at: datetime.datetime | None | Unset = UNSET
    test: bool | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempts = self.attempts

        created_at = self.created_at.isoformat()

        events = []
        for events_item_data in self.events:
            events_item = events_item_data.to_dict()
            events.append(events_item)

        from_ = self.from_

        id = self.id

        message_id_header = self.message_id_header

        metadata = self.metadata.to_dict()

        recipients = []
        for recipients_item_data in self.recipients:
            recipients_item = recipients_item_data.to_dict()
            recipients.append(recipients_item)

        status = self.status.value

        stream = self.stream.value

        subject = self.subject

        tags = self.tags

        updated_at = self.updated_at.isoformat()

        next_attempt_at: None | str | Unset
        if isinstance(self.next_attempt_at, Unset):
            next_attempt_at = UNSET
        elif isinstance(self.next_attempt_at, datetime.datetime):
            next_attempt_at = self.next_attempt_at.isoformat()
        else:
            next_attempt_at = self.next_attempt_at

        test = self.test

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempts": attempts,
                "created_at": created_at,
                "events": events,
                "from": from_,
                "id": id,
                "message_id_header": message_id_header,
                "metadata": metadata,
                "recipients": recipients,
                "status": status,
                "stream": stream,
                "subject": subject,
                "tags": tags,
                "updated_at": updated_at,
            }
        )
        if next_attempt_at is not UNSET:
            field_dict["next_attempt_at"] = next_attempt_at
        if test is not UNSET:
            field_dict["test"] = test

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.message_event import MessageEvent  # noqa: PLC0415
        from ..models.message_view_metadata import MessageViewMetadata  # noqa: PLC0415
        from ..models.recipient_state import RecipientState  # noqa: PLC0415

        d = dict(src_dict)
        attempts = d.pop("attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        events = []
        _events = d.pop("events")
        for events_item_data in _events:
            events_item = MessageEvent.from_dict(events_item_data)

            events.append(events_item)

        from_ = d.pop("from")

        id = d.pop("id")

        message_id_header = d.pop("message_id_header")

        metadata = MessageViewMetadata.from_dict(d.pop("metadata"))

        recipients = []
        _recipients = d.pop("recipients")
        for recipients_item_data in _recipients:
            recipients_item = RecipientState.from_dict(recipients_item_data)

            recipients.append(recipients_item)

        status = MessageStatus(d.pop("status"))

        stream = MessageStream(d.pop("stream"))

        subject = d.pop("subject")

        tags = cast(list[str], d.pop("tags"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_next_attempt_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                next_attempt_at_type_0 = datetime.datetime.fromisoformat(data)

                return next_attempt_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        next_attempt_at = _parse_next_attempt_at(d.pop("next_attempt_at", UNSET))

        test = d.pop("test", UNSET)

        message_view = cls(
            attempts=attempts,
            created_at=created_at,
            events=events,
            from_=from_,
            id=id,
            message_id_header=message_id_header,
            metadata=metadata,
            recipients=recipients,
            status=status,
            stream=stream,
            subject=subject,
            tags=tags,
            updated_at=updated_at,
            next_attempt_at=next_attempt_at,
            test=test,
        )

        message_view.additional_properties = d
        return message_view

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
