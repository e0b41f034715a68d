"""Which stream categories each service owns and publishes (its feed and its relay).

A consumer records a source's events by passing ``sources={"project": CATEGORIES["project"]}``.
Each service's owner keeps its own line up to date.
"""
CATEGORIES = {
    "project": ["project"],
    "timesheet": ["timesheet", "timesheetlock"],
    "resource": ["resource"],
    "notification": ["notification", "delivery"],  # "webhook" streams hold secrets: internal
}


def sources(*names):
    return {name: CATEGORIES[name] for name in names}
