from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.dkim_algorithm import DkimAlgorithm

T = TypeVar("T", bound="DkimInfo")


@_attrs_define
class DkimInfo:
    """
    Attributes:
        algorithm (DkimAlgorithm):
        public_key (str): Base64 public key, as it appears after `p=` in the DNS record.
        selector (str):  Example: sluice20261122.
    """

    algorithm: DkimAlgorithm
    public_key: str
    selector: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        algorithm = self.algorithm.value

        public_key = self.public_key

        selector = self.selector

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "algorithm": algorithm,
                "public_key": public_key,
                "selector": selector,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        algorithm = DkimAlgorithm(d.pop("algorithm"))

        public_key = d.pop("public_key")

        selector = d.pop("selector")

        dkim_info = cls(
            algorithm=algorithm,
            public_key=public_key,
            selector=selector,
        )

        dkim_info.additional_properties = d
        return dkim_info

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
