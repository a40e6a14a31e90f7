from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.dkim_algorithm import DkimAlgorithm
from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateDomainRequest")


@_attrs_define
class CreateDomainRequest:
    """
    Attributes:
        name (str): The domain messages will be sent from (ASCII; use the xn-- form for IDNs). Example: acme.test.
        dkim_algorithm (DkimAlgorithm | None | Unset):
        dkim_algorithms (list[DkimAlgorithm] | None | Unset): Instead of `dkim_algorithm`: one key per algorithm listed,
            e.g. both, so every
            message carries an RSA and an Ed25519 signature. Example: ['rsa-sha256', 'ed25519-sha256'].
    """

    name: str
    dkim_algorithm: DkimAlgorithm | None | Unset = UNSET
    dkim_algorithms: list[DkimAlgorithm] | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        dkim_algorithm: None | str | Unset
        if isinstance(self.dkim_algorithm, Unset):
            dkim_algorithm = UNSET
        elif isinstance(self.dkim_algorithm, DkimAlgorithm):
            dkim_algorithm = self.dkim_algorithm.value
        else:
            dkim_algorithm = self.dkim_algorithm

        dkim_algorithms: list[str] | None | Unset
        if isinstance(self.dkim_algorithms, Unset):
            dkim_algorithms = UNSET
        elif isinstance(self.dkim_algorithms, list):
            dkim_algorithms = []
            for dkim_algorithms_type_0_item_data in self.dkim_algorithms:
                dkim_algorithms_type_0_item = dkim_algorithms_type_0_item_data.value
                dkim_algorithms.append(dkim_algorithms_type_0_item)

        else:
            dkim_algorithms = self.dkim_algorithms

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if dkim_algorithm is not UNSET:
            field_dict["dkim_algorithm"] = dkim_algorithm
        if dkim_algorithms is not UNSET:
            field_dict["dkim_algorithms"] = dkim_algorithms

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        def _parse_dkim_algorithm(data: object) -> DkimAlgorithm | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                dkim_algorithm_type_0 = DkimAlgorithm(data)

                return dkim_algorithm_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DkimAlgorithm | None | Unset, data)

        dkim_algorithm = _parse_dkim_algorithm(d.pop("dkim_algorithm", UNSET))

        def _parse_dkim_algorithms(data: object) -> list[DkimAlgorithm] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                dkim_algorithms_type_0 = []
                _dkim_algorithms_type_0 = data
                for dkim_algorithms_type_0_item_data in _dkim_algorithms_type_0:
                    dkim_algorithms_type_0_item = DkimAlgorithm(dkim_algorithms_type_0_item_data)

                    dkim_algorithms_type_0.append(dkim_algorithms_type_0_item)

                return dkim_algorithms_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[DkimAlgorithm] | None | Unset, data)

        dkim_algorithms = _parse_dkim_algorithms(d.pop("dkim_algorithms", UNSET))

        create_domain_request = cls(
            name=name,
            dkim_algorithm=dkim_algorithm,
            dkim_algorithms=dkim_algorithms,
        )

        return create_domain_request
