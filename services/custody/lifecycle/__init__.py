"""Lifecycle responsibility (Art. 77(7)): a battery that becomes waste moves responsibility, without a new passport."""
