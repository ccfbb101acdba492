"""The REST API (spec: interfaces.md). `create_app` builds it; `attune api` serves it."""

from attune.api.app import create_app

__all__ = ["create_app"]
