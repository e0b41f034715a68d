"""The gateway under test: real services and the gateway in nameko containers, called over real HTTP."""
from __future__ import annotations

from shared import config as cfg
from shared.eventstore import open_store
from shared.identity import TokenBook
from tests.notification.helpers import free_port


def gateway_config(base: dict, **extra) -> dict:
    return dict(base, GATEWAY_ADDRESS=f"127.0.0.1:{free_port()}", **extra)


def base_url(config: dict) -> str:
    return f"http://{config['GATEWAY_ADDRESS']}"


def issue_token(config: dict, subject: str, role: str = "admin") -> str:
    book = TokenBook(open_store(cfg.identity_store_uri(config)), cfg.token_key(config))
    return book.issue(subject, role)[1]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
