"""What `attune api` checks before it serves: the records database opens and the address is
free. Either failing was uvicorn's startup traceback and exit 3, the cause buried in it."""

from __future__ import annotations

import errno
import socket

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from attune.records.db import Database, SchemaTooNew, normalize_url, trouble
from attune.settings import Settings
from attune.stack_record import port_in_use_message


def check_database(settings: Settings) -> str | None:
    """Why the records database cannot be used, naming the setting, or None."""
    where = "ATTUNE_DATABASE_URL" if settings.database_url else "the default SQLite database"
    url = settings.effective_database_url
    try:
        shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return (f"{where}: not a database URL (e.g. postgresql://user@host:5432/attune or "
                "sqlite:////var/lib/attune/attune.db)")
    try:
        db = Database(url)
        try:
            db.ping()
            if too_new := db.too_new():  # said before any worker starts taking tasks
                return too_new
        finally:
            db.dispose()
    except Exception as exc:  # noqa: BLE001 - driver errors vary; the first line says what
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, ModuleNotFoundError) or type(exc).__name__ == "NoSuchModuleError":
            reason += " (supported: sqlite:// and postgresql://)"
        return f"cannot open the records database {shown} ({where}): {reason}"
    return None


def migrate_database(settings: Settings) -> str | None:
    """Bring the records database to this version's schema, or say why it cannot be: `attune
    up` does it before any worker starts, so a stack that refuses its database has run nothing
    (the API migrated after the workers had taken tasks of the runs in flight)."""
    db = Database(settings.effective_database_url)
    try:
        db.migrate()
    except SchemaTooNew as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - what failed, in the driver's or Alembic's first line
        return f"{trouble(exc, db.url)}, while bringing its schema up to date; nothing was started"
    finally:
        db.dispose()
    return None


def check_listen(host: str, port: int) -> str | None:
    """Why the API cannot listen on host:port (taken, or not an address of this machine), or None."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return port_in_use_message("api", port, None)
        return (f"the API cannot listen on {host}:{port} (--host/ATTUNE_API_HOST, "
                f"--port/ATTUNE_API_PORT): {exc.strerror or exc}")
    return None
