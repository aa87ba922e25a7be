"""``nas keys create | list | revoke``: API keys, stored as their SHA-256 (a new key is printed
once). Jobs belong to the key that submitted them; a key cancels only its own unless it is an
admin key. The service's own key (``NAS_API_KEY``, or the one generated in its home) is an admin."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli.app import app
from service.cli.common import open_db
from store import keys as repo

keys = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys, name="keys")


@keys.command("create")
def create_cmd(
    name: Annotated[str, typer.Argument(help="What the key is for (A-Z a-z 0-9 . _ -).")],
    admin: Annotated[bool, typer.Option(help="May cancel every job, not only its own.")] = False,
) -> None:
    """Create a key and print it (it is not shown again)."""
    db = open_db()
    with db.session() as s:
        row, plain = repo.create_key(s, name=name, admin=admin)
        key_id = row.id
        s.commit()
    typer.echo(f"key {key_id} ({name}{', admin' if admin else ''}): {plain}")
    typer.echo("send it in the X-API-Key header; it is stored only as its SHA-256 and not shown again", err=True)


@keys.command("list")
def list_cmd() -> None:
    """Every key: id, name, admin, created, revoked."""
    with open_db().session() as s:
        for k in repo.list_keys(s):
            revoked = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            typer.echo(
                f"{k.id}  {k.name:20s} {'admin' if k.admin else 'user ':5s}  {k.created_at:%Y-%m-%d %H:%M}  {revoked}"
            )


@keys.command("revoke")
def revoke_cmd(key: Annotated[str, typer.Argument(help="The key's id or name.")]) -> None:
    """Revoke a key: requests with it get a 403 from now on; its jobs stay its own."""
    with open_db().session() as s:
        row = repo.revoke_key(s, key)
        key_id, name = row.id, row.name
        s.commit()
    typer.echo(f"key {key_id} ({name}) revoked")
