"""Logging helpers named in settings.LOGGING."""

import logging

EXPECTED_STATUSES = frozenset({401, 403, 404, 405})


class ExpectedRefusalsFilter(logging.Filter):
    """Keeps the one-line warning of a refused request (403, 404, …) but drops its traceback:
    a person without permission or following an old link is not a fault of the code."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in EXPECTED_STATUSES:
            record.exc_info = None
            record.exc_text = None
        return True
