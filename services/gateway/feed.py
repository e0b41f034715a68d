"""``GET /events``: every service's feed page merged in the order the events were recorded, and the cursor after
it. Pure (the pages in, the merge out), so the merge is tested without services (tests/gateway/test_feed.py).

The cursor holds each service's own position, so it survives restarts and misses nothing: within one service the
order is its store's. ``types`` is passed on to the services, each asked only for its own types.
"""
from __future__ import annotations

from shared.errors import ValidationError


def asked(wanted: set | None, published: dict[str, set]) -> dict[str, list | None]:
    """The services to ask and the types to ask each for (None: every type). A service that publishes none of
    the wanted types is not asked; a wanted type that no service publishes is refused, as each service refuses
    a type it does not have."""
    if not wanted:
        return dict.fromkeys(published)
    unknown = sorted(wanted - set().union(*published.values()))
    if unknown:
        raise ValidationError(errors={"types": [f"Not an event type of any service: {', '.join(unknown)}."]})
    return {service: sorted(wanted & types) for service, types in published.items() if wanted & types}


def merge(answers: dict[str, dict], positions: dict[str, int], limit: int) -> tuple[list, dict, bool]:
    """``answers``: each asked service's ``events_since`` page (``events``, ``next_position``, ``head``) read
    from ``positions``. Returns the events to serve, in order and each with its ``service``; the positions after
    them; and whether there is more."""
    positions = dict(positions)
    fetched = sorted((event["recorded_at"], service, event["position"], event)
                     for service, answer in answers.items() for event in answer["events"])
    latest = {service: (when, service, position) for when, service, position, _ in fetched}  # sorted: the last
    # A service whose page ends before its head (a full page, or a filtered one that scanned only part of its
    # feed) has said nothing about what it recorded after its latest event: nothing later is served yet.
    unfinished = [service for service, answer in answers.items() if answer["next_position"] < answer["head"]]
    if any(service not in latest for service in unfinished):
        taken = []  # one found none of its types in the part it scanned: it alone moves on, to next_position
    else:
        bound = min((latest[service] for service in unfinished), default=None)
        taken = [item for item in fetched if bound is None or item[:3] <= bound][:limit]
    served: dict[str, int] = {}
    for _, service, position, _ in taken:
        served[service] = served.get(service, 0) + 1
        positions[service] = position
    for service, answer in answers.items():
        if served.get(service, 0) == len(answer["events"]):  # its whole page served: past what it skipped too
            positions[service] = answer["next_position"]
    more = bool(unfinished) or len(taken) < len(fetched)
    return [dict(event, service=service) for _, service, _, event in taken], positions, more
