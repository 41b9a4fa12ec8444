"""Structured logs: JSON lines with service, trace ids and the passport being handled."""

from __future__ import annotations

import json
import logging

from services.common.tracing import JsonFormatter, current_passport_id


def test_log_lines_carry_the_passport_being_handled() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "applied", None, None)
    formatter = JsonFormatter("custody")
    assert "passport_id" not in json.loads(formatter.format(record))
    token = current_passport_id.set("urn:uuid:0190")
    try:
        line = json.loads(formatter.format(record))
    finally:
        current_passport_id.reset(token)
    assert line["passport_id"] == "urn:uuid:0190"
    assert line["service"] == "custody"
    assert line["message"] == "applied"
