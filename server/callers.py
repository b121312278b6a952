"""Who is asking: a tenant (an API key of the settings) or an anonymous client (its network).

Invariants:
- Tenants and anonymous clients live in separate namespaces: a budget identity is ``key:<key>``
  or ``anonymous:<network>``, so a key literally named ``anonymous`` is a tenant like any other,
  with its own budget, and never the anonymous one.
- Anonymous clients are told apart by the network the socket names: an IPv4 address, an IPv6 /64
  (what one subscriber usually holds: per-address budgets would hand out 2^64 of them). The
  server runs without proxy headers, so a client cannot choose the address it is counted under.
- No API key appears in clear outside the settings: metrics name a tenant by a digest prefix.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from server.settings import ServerSettings

ANONYMOUS = "anonymous"


def client_network(host: str | None) -> str:
    """The network an anonymous client is counted under."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an address (an in-process test client)
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class Caller:
    key: str | None  # the API key; None: anonymous
    network: str  # where the request came from

    @property
    def is_tenant(self) -> bool:
        return self.key is not None

    @property
    def identity(self) -> str:
        """The caller's budget identity."""
        return f"key:{self.key}" if self.key is not None else f"{ANONYMOUS}:{self.network}"

    @property
    def label(self) -> str:
        """The caller in per-tenant metrics: a key's digest prefix, or `anonymous` (all networks:
        one label per address would let anyone grow the metrics without bound)."""
        if self.key is None:
            return ANONYMOUS
        return "key-" + hashlib.sha256(self.key.encode()).hexdigest()[:12]

    def budget(self, settings: ServerSettings) -> int | None:
        """Images per window (None: unlimited)."""
        return settings.api_keys[self.key] if self.key is not None else settings.anonymous_budget
