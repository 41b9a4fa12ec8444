"""Custody rules without I/O: the hash chain, custody transitions, write authority, permit checks, the normalised
step, EPCIS 2.0 mapping and validation (`epcis/`), waste declarations, telemetry readings."""

from services.custody.domain.chain import GENESIS_HASH, ChainBreak, LogEntry, verify_chain

__all__ = ["GENESIS_HASH", "ChainBreak", "LogEntry", "verify_chain"]
