"""What each service owns and publishes: its stream categories (its feed and its relay) and its event types.

A consumer records a source's events by passing ``sources={"project": CATEGORIES["project"]}`` (or
``sources("project")``). The kit checks every foreign event against its producer's schemas, which it finds
here by import path, so services never import each other. Each service's owner keeps its own lines up to date.
"""
from __future__ import annotations

import importlib

CATEGORIES = {
    "project": ["project", "client"],  # client: the clients (issue 16)
    "timesheet": ["timesheet", "timesheetlock"],
    "resource": ["resource"],
    "notification": ["notification", "delivery"],  # "webhook" streams hold secrets: internal
}

# source service -> "module:attribute" of its EventRegistry
REGISTRIES = {name: f"services.{name}.events:events" for name in CATEGORIES}


def sources(*names):
    return {name: CATEGORIES[name] for name in names}


def registry(source: str):
    """The producer's EventRegistry for ``source`` (imported on first use)."""
    try:
        path = REGISTRIES[source]
    except KeyError:
        raise KeyError(f"no event registry known for source {source!r}: add it to shared.catalog.REGISTRIES "
                       "or pass registries= to Chronicle") from None
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
