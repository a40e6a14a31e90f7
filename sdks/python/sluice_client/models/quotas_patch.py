from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.stream_quota_patch import StreamQuotaPatch


T = TypeVar("T", bound="QuotasPatch")


@_attrs_define
class QuotasPatch:
    """`{"transactional": {...}, "bulk": {...}}`, either part optional.

    Attributes:
        bulk (None | StreamQuotaPatch | Unset):
        transactional (None | StreamQuotaPatch | Unset):
    """

    bulk: None | StreamQuotaPatch | Unset = UNSET
    transactional: None | StreamQuotaPatch | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.stream_quota_patch import StreamQuotaPatch  # noqa: PLC0415

        bulk: dict[str, Any] | None | Unset
        if isinstance(self.bulk, Unset):
            bulk = UNSET
        elif isinstance(self.bulk, StreamQuotaPatch):
            bulk = self.bulk.to_dict()
        else:
            bulk = self.bulk

        transactional: dict[str, Any] | None | Unset
        if isinstance(self.transactional, Unset):
            transactional = UNSET
        elif isinstance(self.transactional, StreamQuotaPatch):
            transactional = self.transactional.to_dict()
        else:
            transactional = self.transactional

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if bulk is not UNSET:
            field_dict["bulk"] = bulk
        if transactional is not UNSET:
            field_dict["transactional"] = transactional

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.stream_quota_patch import StreamQuotaPatch  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_bulk(data: object) -> None | StreamQuotaPatch | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                bulk_type_0 = StreamQuotaPatch.from_dict(data)

                return bulk_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | StreamQuotaPatch | Unset, data)

        bulk = _parse_bulk(d.pop("bulk", UNSET))

        def _parse_transactional(data: object) -> None | StreamQuotaPatch | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                transactional_type_0 = StreamQuotaPatch.from_dict(data)

                return transactional_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | StreamQuotaPatch | Unset, data)

        transactional = _parse_transactional(d.pop("transactional", UNSET))

        quotas_patch = cls(
            bulk=bulk,
            transactional=transactional,
        )

        return quotas_patch
