"""``chronicle token create|list|revoke``: bearer tokens for people and services."""
from __future__ import annotations

import json
import sys

import typer

from . import config as cfg
from .errors import ChronicleError

app = typer.Typer(help="Bearer tokens for people and services (stored hashed; shown once).", no_args_is_help=True)


def book():
    from .eventstore import open_store
    from .identity import TokenBook

    return TokenBook(open_store(cfg.identity_store_uri()), cfg.token_key())


def _fail(exc: ChronicleError):
    detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()) if exc.errors else ""
    print(f"error: {exc.message or exc.code}{' (' + detail + ')' if detail else ''}", file=sys.stderr)
    raise typer.Exit(2)


@app.command()
def create(
    user: str = typer.Option(None, help="The person's resource id."),
    service: str = typer.Option(None, help="A service's name (with --role service)."),
    role: str = typer.Option(..., help="admin, manager or employee for a person; service for a service."),
    expires: float = typer.Option(None, help="Days until it expires (default: never)."),
    label: str = typer.Option(None, help="A note to tell tokens apart in `chronicle token list`."),
):
    """Issue a token. It is printed once, as the last line, and never stored in clear."""
    if bool(user) == bool(service):
        print("error: give exactly one of --user or --service", file=sys.stderr)
        raise typer.Exit(2)
    try:
        token_id, token = book().issue(user or service, role, service=bool(service), expires_days=expires,
                                       label=label)
    except ChronicleError as exc:
        _fail(exc)
    print(f"token {token_id} for {'service ' + service if service else user} ({role})", file=sys.stderr)
    print(token)


@app.command("list")
def list_tokens(as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table.")):
    """Every token issued, newest first (ids, subjects, roles, expiry, revocation; never the tokens)."""
    tokens = book().list()
    if as_json:
        for token in tokens:
            print(json.dumps(token))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "subject", "kind", "role", "issued", "expires", "revoked", "label")
    for t in tokens:
        table.add_row(t["token_id"], t["subject"], t["kind"], t["role"], t["issued_at"], t["expires_at"] or "never",
                      t["revoked_at"] or "", t["label"] or "")
    Console().print(table)


@app.command()
def revoke(token_id: str = typer.Argument(..., help="The token's id (from `chronicle token list`)."),
           reason: str = typer.Option(None, help="Why, for the audit trail.")):
    """Revoke a token: every service refuses it within a minute."""
    try:
        changed = book().revoke(token_id, reason)
    except ChronicleError as exc:
        _fail(exc)
    print(f"token {token_id} {'revoked' if changed else 'was already revoked'}")
