"""Custody rules without I/O: the hash chain, custody transitions, permit checks, the normalised step."""

from services.custody.domain.chain import GENESIS_HASH, ChainBreak, LogEntry, verify_chain

__all__ = ["GENESIS_HASH", "ChainBreak", "LogEntry", "verify_chain"]
