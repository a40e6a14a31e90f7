from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.bounce import Bounce
    from ..models.domain_event_data import DomainEventData
    from ..models.reputation_event_data import ReputationEventData
    from ..models.smtp_reply import SmtpReply
    from ..models.webhook_data_metadata import WebhookDataMetadata


T = TypeVar("T", bound="WebhookData")


@_attrs_define
class WebhookData:
    """
    Attributes:
        event_id (str): The event's id (also the `webhook-id` header).
        metadata (WebhookDataMetadata):
        tags (list[str]):
        bounce (Bounce | None | Unset):
        detail (None | str | Unset):
        domain (DomainEventData | None | Unset):
        dsn_status (None | str | Unset):
        feedback_type (None | str | Unset):
        message_id (None | str | Unset):
        recipient (None | str | Unset):
        reputation (None | ReputationEventData | Unset):
        smtp_reply (None | SmtpReply | Unset):
        test (bool | Unset): `true` when the message was sent with a sandbox (test) key: simulated, never sent.
    """

    event_id: str
    metadata: WebhookDataMetadata
    tags: list[str]
    bounce: Bounce | None | Unset = UNSET
    detail: None | str | Unset = UNSET
    domain: DomainEventData | None | Unset = UNSET
    dsn_status: None | str | Unset = UNSET
    feedback_type: None | str | Unset = UNSET
    message_id: None | str | Unset = UNSET
    recipient: None | str | Unset = UNSET
    reputation: None | ReputationEventData | Unset = UNSET
    smtp_reply: None | SmtpReply | Unset = UNSET
    test: bool | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.bounce import Bounce  # noqa: PLC0415
        from ..models.domain_event_data import DomainEventData  # noqa: PLC0415
        from ..models.reputation_event_data import ReputationEventData  # noqa: PLC0415
        from ..models.smtp_reply import SmtpReply  # noqa: PLC0415

        event_id = self.event_id

        metadata = self.metadata.to_dict()

        tags = self.tags

        bounce: dict[str, Any] | None | Unset
        if isinstance(self.bounce, Unset):
            bounce = UNSET
        elif isinstance(self.bounce, Bounce):
            bounce = self.bounce.to_dict()
        else:
            bounce = self.bounce

        detail: None | str | Unset
        if isinstance(self.detail, Unset):
            detail = UNSET
        else:
            detail = self.detail

        domain: dict[str, Any] | None | Unset
        if isinstance(self.domain, Unset):
            domain = UNSET
        elif isinstance(self.domain, DomainEventData):
            domain = self.domain.to_dict()
        else:
            domain = self.domain

        dsn_status: None | str | Unset
        if isinstance(self.dsn_status, Unset):
            dsn_status = UNSET
        else:
            dsn_status = self.dsn_status

        feedback_type: None | str | Unset
        if isinstance(self.feedback_type, Unset):
            feedback_type = UNSET
        else:
            feedback_type = self.feedback_type

        message_id: None | str | Unset
        if isinstance(self.message_id, Unset):
            message_id = UNSET
        else:
            message_id = self.message_id

        recipient: None | str | Unset
        if isinstance(self.recipient, Unset):
            recipient = UNSET
        else:
            recipient = self.recipient

        reputation: dict[str, Any] | None | Unset
        if isinstance(self.reputation, Unset):
            reputation = UNSET
        elif isinstance(self.reputation, ReputationEventData):
            reputation = self.reputation.to_dict()
        else:
            reputation = self.reputation

        smtp_reply: dict[str, Any] | None | Unset
        if isinstance(self.smtp_reply, Unset):
            smtp_reply = UNSET
        elif isinstance(self.smtp_reply, SmtpReply):
            smtp_reply = self.smtp_reply.to_dict()
        else:
            smtp_reply = self.smtp_reply

        test = self.test

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "event_id": event_id,
                "metadata": metadata,
                "tags": tags,
            }
        )
        if bounce is not UNSET:
            field_dict["bounce"] = bounce
        if detail is not UNSET:
            field_dict["detail"] = detail
        if domain is not UNSET:
            field_dict["domain"] = domain
        if dsn_status is not UNSET:
            field_dict["dsn_status"] = dsn_status
        if feedback_type is not UNSET:
            field_dict["feedback_type"] = feedback_type
        if message_id is not UNSET:
            field_dict["message_id"] = message_id
        if recipient is not UNSET:
            field_dict["recipient"] = recipient
        if reputation is not UNSET:
            field_dict["reputation"] = reputation
        if smtp_reply is not UNSET:
            field_dict["smtp_reply"] = smtp_reply
        if test is not UNSET:
            field_dict["test"] = test

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.bounce import Bounce  # noqa: PLC0415
        from ..models.domain_event_data import DomainEventData  # noqa: PLC0415
        from ..models.reputation_event_data import ReputationEventData  # noqa: PLC0415
        from ..models.smtp_reply import SmtpReply  # noqa: PLC0415
        from ..models.webhook_data_metadata import WebhookDataMetadata  # noqa: PLC0415

        d = dict(src_dict)
        event_id = d.pop("event_id")

        metadata = WebhookDataMetadata.from_dict(d.pop("metadata"))

        tags = cast(list[str], d.pop("tags"))

        def _parse_bounce(data: object) -> Bounce | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                bounce_type_0 = Bounce.from_dict(data)

                return bounce_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Bounce | None | Unset, data)

        bounce = _parse_bounce(d.pop("bounce", UNSET))

        def _parse_detail(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        detail = _parse_detail(d.pop("detail", UNSET))

        def _parse_domain(data: object) -> DomainEventData | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                domain_type_0 = DomainEventData.from_dict(data)

                return domain_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DomainEventData | None | Unset, data)

        domain = _parse_domain(d.pop("domain", UNSET))

        def _parse_dsn_status(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        dsn_status = _parse_dsn_status(d.pop("dsn_status", UNSET))

        def _parse_feedback_type(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        feedback_type = _parse_feedback_type(d.pop("feedback_type", UNSET))

        def _parse_message_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        message_id = _parse_message_id(d.pop("message_id", UNSET))

        def _parse_recipient(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        recipient = _parse_recipient(d.pop("recipient", UNSET))

        def _parse_reputation(data: object) -> None | ReputationEventData | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                reputation_type_0 = ReputationEventData.from_dict(data)

                return reputation_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ReputationEventData | Unset, data)

        reputation = _parse_reputation(d.pop("reputation", UNSET))

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

        test = d.pop("test", UNSET)

        webhook_data = cls(
            event_id=event_id,
            metadata=metadata,
            tags=tags,
            bounce=bounce,
            detail=detail,
            domain=domain,
            dsn_status=dsn_status,
            feedback_type=feedback_type,
            message_id=message_id,
            recipient=recipient,
            reputation=reputation,
            smtp_reply=smtp_reply,
            test=test,
        )

        webhook_data.additional_properties = d
        return webhook_data

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
