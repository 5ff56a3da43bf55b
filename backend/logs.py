"""Logging with personal data masked: ID numbers and mobile numbers never reach a log line in clear."""

from __future__ import annotations

import logging

from vocabulary.masking import mask_text

_MASKED_EXTRAS = ("request", "host")  # Sanic's access log puts the URL (and its query) in ``request``


class MaskingFilter(logging.Filter):
    """Rewrite each record's message (and Sanic's access-log fields) with ID and phone numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        for name in _MASKED_EXTRAS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, mask_text(value))
        return True


def install_masking(*logger_names: str) -> None:
    """Put the masking filter on every handler of the named loggers (and the root logger)."""
    for name in ("", *logger_names):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())


def configure(level: str = "INFO") -> None:
    """Console logging for the project's own modules, masked (Sanic keeps its own handlers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    handler.addFilter(MaskingFilter())
    for name in ("backend", "alembic"):
        project_logger = logging.getLogger(name)
        project_logger.handlers[:] = [handler]
        project_logger.setLevel(level)
        project_logger.propagate = False
