"""Helpers for flows across the real services, run in one process against the real broker."""
from shared.kit import Chronicle


def chronicle_of(runner, service_name) -> Chronicle:
    container = next(c for c in runner.containers if c.service_name == service_name)
    return next(d for d in container.dependencies if isinstance(d, Chronicle))


def dump_views(kit: Chronicle) -> dict:
    """Every read-model table, rows sorted: what a rebuild must reproduce exactly."""

    def read(db):
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name != 'checkpoints' ORDER BY name")]
        return {t: sorted(tuple(row) for row in db.execute(f"SELECT * FROM {t}")) for t in tables}

    return kit.views.read(read)


def settled(kit: Chronicle) -> bool:
    """Read models and reactors have seen everything in the store."""
    kit.runner.run_once()
    head = kit.store.head_position(kit.runner.categories)
    return kit.runner.position() >= head and all(
        kit.state.get_checkpoint(kit.reactors.checkpoint_name(r)) >= head for r in kit.reactors.reactors)
