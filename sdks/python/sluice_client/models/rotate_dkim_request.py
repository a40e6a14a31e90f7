from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.dkim_algorithm import DkimAlgorithm
from ..types import UNSET, Unset

T = TypeVar("T", bound="RotateDkimRequest")


@_attrs_define
class RotateDkimRequest:
    """
    Attributes:
        algorithm (DkimAlgorithm | None | Unset):
    """

    algorithm: DkimAlgorithm | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        algorithm: None | str | Unset
        if isinstance(self.algorithm, Unset):
            algorithm = UNSET
        elif isinstance(self.algorithm, DkimAlgorithm):
            algorithm = self.algorithm.value
        else:
            algorithm = self.algorithm

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if algorithm is not UNSET:
            field_dict["algorithm"] = algorithm

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_algorithm(data: object) -> DkimAlgorithm | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                algorithm_type_0 = DkimAlgorithm(data)

                return algorithm_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DkimAlgorithm | None | Unset, data)

        algorithm = _parse_algorithm(d.pop("algorithm", UNSET))

        rotate_dkim_request = cls(
            algorithm=algorithm,
        )

        return rotate_dkim_request
