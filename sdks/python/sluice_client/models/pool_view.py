from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.source_view import SourceView


T = TypeVar("T", bound="PoolView")


@_attrs_define
class PoolView:
    """
    Attributes:
        name (str):  Example: shared.
        sources (list[SourceView]):
        streams (list[str]): The streams that send from this pool by default (tenants may be assigned any pool).
    """

    name: str
    sources: list[SourceView]
    streams: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        sources = []
        for sources_item_data in self.sources:
            sources_item = sources_item_data.to_dict()
            sources.append(sources_item)

        streams = self.streams

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "sources": sources,
                "streams": streams,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.source_view import SourceView  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        sources = []
        _sources = d.pop("sources")
        for sources_item_data in _sources:
            sources_item = SourceView.from_dict(sources_item_data)

            sources.append(sources_item)

        streams = cast(list[str], d.pop("streams"))

        pool_view = cls(
            name=name,
            sources=sources,
            streams=streams,
        )

        pool_view.additional_properties = d
        return pool_view

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
