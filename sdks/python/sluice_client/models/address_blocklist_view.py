from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.check_view import CheckView
    from ..models.listing_view import ListingView


T = TypeVar("T", bound="AddressBlocklistView")


@_attrs_define
class AddressBlocklistView:
    """
    Attributes:
        checks (list[CheckView]): The last check on each zone (refused queries and lookup errors included).
        ip (str):  Example: 192.0.2.10.
        listed (bool): `true` while a listing takes the address out of rotation (for the zone's
            providers).
        listings (list[ListingView]):
    """

    checks: list[CheckView]
    ip: str
    listed: bool
    listings: list[ListingView]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        checks = []
        for checks_item_data in self.checks:
            checks_item = checks_item_data.to_dict()
            checks.append(checks_item)

        ip = self.ip

        listed = self.listed

        listings = []
        for listings_item_data in self.listings:
            listings_item = listings_item_data.to_dict()
            listings.append(listings_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "checks": checks,
                "ip": ip,
                "listed": listed,
                "listings": listings,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.check_view import CheckView  # noqa: PLC0415
        from ..models.listing_view import ListingView  # noqa: PLC0415

        d = dict(src_dict)
        checks = []
        _checks = d.pop("checks")
        for checks_item_data in _checks:
            checks_item = CheckView.from_dict(checks_item_data)

            checks.append(checks_item)

        ip = d.pop("ip")

        listed = d.pop("listed")

        listings = []
        _listings = d.pop("listings")
        for listings_item_data in _listings:
            listings_item = ListingView.from_dict(listings_item_data)

            listings.append(listings_item)

        address_blocklist_view = cls(
            checks=checks,
            ip=ip,
            listed=listed,
            listings=listings,
        )

        address_blocklist_view.additional_properties = d
        return address_blocklist_view

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
