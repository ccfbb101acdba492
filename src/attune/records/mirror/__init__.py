"""The Temporal → SQL records mirror: `scheduler` decides what to read when, `apply` writes it,
`notify` wakes readers waiting for a change."""

from attune.records.mirror.scheduler import Mirror

__all__ = ["Mirror"]
