"""The gateway under test: real services and the gateway in nameko containers, called over real HTTP."""
from __future__ import annotations

from tests.notification.helpers import free_port


def gateway_config(base: dict, **extra) -> dict:
    return dict(base, GATEWAY_ADDRESS=f"127.0.0.1:{free_port()}", **extra)


def base_url(config: dict) -> str:
    return f"http://{config['GATEWAY_ADDRESS']}"


def bearer(token: str) -> dict:
    """The HTTP header presenting ``token``."""
    return {"Authorization": f"Bearer {token}"}
