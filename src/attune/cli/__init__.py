"""The `attune` command line: commands (`commands.py`), the REST client behind them
(`api_client.py`), terminal output (`output.py`), `run --direct` (`direct.py`) and worker
processes (`workers.py`). `attune up` itself is attune.stack."""

from attune.cli.commands import app, main

__all__ = ["app", "main"]
