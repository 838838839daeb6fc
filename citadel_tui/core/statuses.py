"""Status names, importable for free (the CLI's --help must not pay for the comparison engine)."""

STATUSES = (
    "missing", "orphan", "present", "in-sync", "drift", "stale", "no-rotation", "rotation-due",
    "rotation-overdue", "expiring", "expired", "disabled", "unused",
)
DEFAULT_FAIL_ON = ("missing", "drift", "rotation-overdue", "expired")
