"""The records store (spec §8): models, migrations, queries and the mirror that fills it."""

# Installs the SQLite id hook wherever an execution row can be written (see reserved_ids).
from attune.records import reserved_ids as _reserved_ids  # noqa: F401
