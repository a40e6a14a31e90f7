from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.message_stream import MessageStream
from ..models.reputation_level import ReputationLevel

T = TypeVar("T", bound="StreamReputation")


@_attrs_define
class StreamReputation:
    """One stream's standing over the window.

    Attributes:
        complained (int):
        complaint_rate (float): A rate as a fraction (0.001 = 0.1 %). Compared and serialised as a plain number.
        delivered (int):
        hard_bounce_rate (float): A rate as a fraction (0.001 = 0.1 %). Compared and serialised as a plain number.
        hard_bounced (int):
        level (ReputationLevel): How a stream stands against the thresholds.
        stream (MessageStream): Which queue a message travels in. Transactional mail is always served first.
    """

    complained: int
    complaint_rate: float
    delivered: int
    hard_bounce_rate: float
    hard_bounced: int
    level: ReputationLevel
    stream: MessageStream
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        complained = self.complained

        complaint_rate = self.complaint_rate

        delivered = self.delivered

        hard_bounce_rate = self.hard_bounce_rate

        hard_bounced = self.hard_bounced

        level = self.level.value

        stream = self.stream.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "complained": complained,
                "complaint_rate": complaint_rate,
                "delivered": delivered,
                "hard_bounce_rate": hard_bounce_rate,
                "hard_bounced": hard_bounced,
                "level": level,
                "stream": stream,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        complained = d.pop("complained")

        complaint_rate = d.pop("complaint_rate")

        delivered = d.pop("delivered")

        hard_bounce_rate = d.pop("hard_bounce_rate")

        hard_bounced = d.pop("hard_bounced")

        level = ReputationLevel(d.pop("level"))

        stream = MessageStream(d.pop("stream"))

        stream_reputation = cls(
            complained=complained,
            complaint_rate=complaint_rate,
            delivered=delivered,
            hard_bounce_rate=hard_bounce_rate,
            hard_bounced=hard_bounced,
            level=level,
            stream=stream,
        )

        stream_reputation.additional_properties = d
        return stream_reputation

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
