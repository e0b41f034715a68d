"""Webhook targets: where a URL may be sent, and a requests session that connects only there.

A host is resolved once per attempt; every address it resolves to is checked, and the connection goes to
the checked address (the ``Host`` header, TLS SNI and certificate verification stay on the host name), so a
DNS answer that changes between the check and the connect (DNS rebinding) cannot redirect a delivery.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """A URL that may not be sent to. ``code``: ``webhook.unresolvable_host`` (may resolve later) or
    ``webhook.private_address`` (a special-use address)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    host: str  # the host name of the URL, as the receiver's certificate and Host header name it
    address: str  # the checked address the connection goes to


def lookup(host: str) -> list[str]:
    """The addresses DNS gives for ``host`` (patched by tests to play a rebinding resolver)."""
    return [info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]


def numeric_address(host: str) -> Address | None:
    """``host`` as an IP address if it is one in any form a resolver would accept: IPv6, dotted quad, and the
    legacy IPv4 forms ``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` (``inet_aton``)."""
    host = host.rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def special_use(address: Address) -> bool:
    """Loopback, private, link-local, CGNAT (100.64/10), multicast, reserved, unspecified, documentation and
    benchmarking ranges, in IPv4 and IPv6. An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64,
    6to4, Teredo) is judged by that IPv4 address too."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(address.compressed.split("%")[0])  # drop a zone id
        embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.ipv4_mapped is not None:
            return special_use(address.ipv4_mapped)
        if any(v4 is not None and special_use(v4) for v4 in embedded):
            return True
    return (not address.is_global or address.is_multicast or address.is_reserved or address.is_loopback
            or address.is_link_local or address.is_unspecified or address.is_private)


def resolve(url: str, allow_private: bool) -> Target:
    """Resolve the URL's host once and check every address; raises ``TargetRefused``."""
    host = urlsplit(url).hostname or ""
    numeric = numeric_address(host)
    if numeric is not None:
        addresses = [numeric]
    else:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in lookup(host)]
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"the host {host} does not resolve: {exc}", "webhook.unresolvable_host") from None
        if not addresses:
            raise TargetRefused(f"the host {host} does not resolve", "webhook.unresolvable_host")
    if not allow_private:
        for address in addresses:
            if special_use(address):
                raise TargetRefused(f"{host} resolves to the special-use address {address}",
                                    "webhook.private_address")
    return Target(host=host, address=str(addresses[0]))


class PinnedAdapter(HTTPAdapter):
    """Connects to ``target.address`` whatever the URL's host resolves to now, while the Host header, TLS SNI
    and certificate verification use the host name."""

    def __init__(self, target: Target, **kwargs):
        self.target = target
        super().__init__(**kwargs)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool_kwargs = {**pool_kwargs, "server_hostname": self.target.host,
                           "assert_hostname": self.target.host}
        return self.poolmanager.connection_from_host(
            host=self.target.address, port=host_params["port"], scheme=host_params["scheme"],
            pool_kwargs=pool_kwargs)

    def send(self, request, **kwargs):
        if "Host" not in request.headers:
            parts = urlsplit(request.url)
            request.headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
        return super().send(request, **kwargs)


def pinned_session(target: Target) -> requests.Session:
    """A session whose every connection goes to the checked address (no proxies from the environment: a proxy
    would resolve the host again)."""
    session = requests.Session()
    session.trust_env = False
    adapter = PinnedAdapter(target)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
