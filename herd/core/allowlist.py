"""Allow-lists of addresses and networks (CIDR), for who may talk to a service."""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class AllowList:
    """Addresses allowed by a list of networks; ``None`` (no list) allows everyone."""

    def __init__(self, networks: Optional[Iterable[Network]] = None) -> None:
        self.networks = None if networks is None else tuple(networks)

    @classmethod
    def parse(cls, text: Optional[str]) -> "AllowList":
        """``"127.0.0.1, 10.0.0.0/8, ::1"``; empty or None allows everyone."""
        if not text or not text.strip():
            return cls(None)
        networks = []
        for item in text.replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an address or network: {item!r}") from None
        return cls(networks)

    def allows(self, host: str) -> bool:
        """Whether ``host`` (an IP address as text) is allowed."""
        if self.networks is None:
            return True
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __str__(self) -> str:
        return "everyone" if self.networks is None else ", ".join(map(str, self.networks))
