"""The CLI's side of the REST API: submit, follow with live progress, read and cancel."""

from __future__ import annotations

import math
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from attune.cli.output import EXIT_INTERRUPTED, as_json, cell, dump, print_table, show_result, styled, visible
from attune.settings import Settings
from attune.statuses import TERMINAL, ExecutionStatus, exit_code

LIST_COLUMNS = ["id", "action_ref", "status", "parent", "created"]
# While following a run, a lost API is waited for this long: `attune up` starts a dead API again
# within 1-16 s, and the run goes on meanwhile; a follower that gave up at once lost sight of it.
RECONNECT_SECONDS = 60.0
PAGE_MAX = 1000  # records per list request: the API's largest page
ACTIVE = ",".join(sorted(s for s in ExecutionStatus if s not in TERMINAL))  # a `status` filter
ENDED = ",".join(sorted(TERMINAL))
FAILED = "failed,timeout"


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details or []


class ApiUnreachable(ConnectionError):
    """No answer from the API: `what` says where and why in a few words; the message adds what
    to do (a stack not started, or the CLI pointed elsewhere)."""

    NEXT_STEP = "is the stack running (attune up)? Else give the API's address: --api-url or ATTUNE_API_URL"

    def __init__(self, url: str, exc: httpx.HTTPError) -> None:
        self.what = f"cannot reach the API at {url} ({_why(exc)})"
        super().__init__(f"{self.what}: {self.NEXT_STEP}")


def route(*parts: object) -> str:
    """An API path from its segments, each percent-encoded: what a user typed (an action ref,
    an id) stays one segment, never `../packs/x`, `1?wait=5` or `1#x`, nor an invalid URL."""
    return "".join("/" + _segment(str(part)) for part in parts)


def _segment(text: str) -> str:
    encoded = quote(text, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded  # not a dot-segment


def _why(exc: httpx.HTTPError) -> str:
    """httpx's error in a few words ("[Errno 111] Connection refused": connection refused)."""
    text = str(exc).lower()
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time" if isinstance(exc, httpx.ReadTimeout) else "timed out"
    for marks, why in ((("refused",), "connection refused"),
                       (("name or service not known", "nodename nor servname", "name resolution",
                         "no address associated", "errno -2", "errno -3", "errno -5"), "name not resolved"),
                       (("ssl", "certificate", "tls"), "TLS handshake failed"),
                       (("disconnected", "reset", "broken pipe", "closed"), "the connection was closed"),
                       (("unreachable",), "network unreachable")):
        if any(mark in text for mark in marks):
            return why
    return str(exc).strip() or type(exc).__name__


class Api:
    def __init__(self, settings: Settings, notice: Callable[[str], None] | None = None) -> None:
        """`notice`: where to say that the API was lost and is being waited for (reads made
        while following a run are retried for RECONNECT_SECONDS; others fail at once)."""
        headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
        self.http = httpx.Client(base_url=settings.api_url.rstrip("/") + "/api/v1",
                                 headers=headers, timeout=30)
        self.url = settings.api_url
        self.notice = notice
        self.reached = False  # only an API that answered before is waited for, not a wrong URL

    def read(self, path: str, **kwargs: Any) -> Any:
        """A GET made while following a run: a lost API is waited for (see RECONNECT_SECONDS)."""
        deadline = None
        while True:
            try:
                return self.call("GET", path, **kwargs)
            except ConnectionError as exc:
                now = time.monotonic()
                if self.notice is None or not self.reached or (deadline is not None and now >= deadline):
                    raise
                if deadline is None:
                    deadline = now + RECONNECT_SECONDS
                    what = exc.what if isinstance(exc, ApiUnreachable) else str(exc)
                    self.notice(f"{what}; trying again for up to {RECONNECT_SECONDS:.0f} s "
                                "(the run goes on without it)")
                time.sleep(1.0)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnreachable(self.url, exc) from exc
        self.reached = True
        if resp.status_code >= 400:
            raise api_error(resp)
        try:
            return resp.json() if resp.content else {}
        except ValueError:
            raise not_the_api(resp) from None

    def item(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The record of a one-item answer, `{"data": {...}}`."""
        return _data(self.call(method, path, **kwargs), self.url)

    def execution(self, execution_id: int | str, wait: float = 0) -> dict[str, Any]:
        """The record; with `wait`, the API answers once it has ended or after `wait` s."""
        params = {"wait": wait} if wait else None
        return _data(self.read(route("executions", execution_id), params=params), self.url)

    def children(self, execution_id: int | str, *, status: str | None = None) -> list[dict[str, Any]]:
        """Every child record (task attempts, items, nested runs), newest first: every page,
        however many (a run of 202 tasks lost all but its newest 100); `status`: only those."""
        return [t for page in self.child_pages(execution_id, status=status, per_page=PAGE_MAX) for t in page]

    def child_pages(self, execution_id: int | str, *, status: str | None = None,
                    per_page: int = PAGE_MAX) -> Iterator[list[dict[str, Any]]]:
        """The child records page by page, newest first, by keyset (`after`: no page skips or
        repeats a record as new ones arrive); stop reading by leaving the loop."""
        params: dict[str, Any] = {"parent": execution_id, "per_page": per_page}
        if status:
            params["status"] = status
        while True:
            body = _page(self.read("/executions", params=params), self.url)
            yield body["items"]
            after = body["pagination"].get("next_after")
            if not body["pagination"].get("has_next") or not body["items"]:
                return
            params["after"] = after if after is not None else body["items"][-1]["id"]


def _data(body: Any, url: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ApiError(200, f"the server at {url} answered without the API's one-item format: is it "
                       "Attune's API? Else give the API's address: --api-url or ATTUNE_API_URL")
    return body["data"]


def _page(body: Any, url: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list) \
            or not isinstance(body.get("pagination"), dict):
        raise ApiError(200, f"the server at {url} answered without the API's list format: is it "
                       "Attune's API? Else give the API's address: --api-url or ATTUNE_API_URL")
    return body


def report_api_error(err: Console, exc: Exception) -> int:
    if isinstance(exc, ConnectionError):
        err.print(f"error: {visible(str(exc))}", highlight=False)
        return 2
    assert isinstance(exc, ApiError)
    for line in error_lines(exc):
        err.print(line)
    # Exit 1 is for an execution that ended badly (or a check that found problems); a request
    # refused (bad input, a wrong or missing token, a conflict) or an API failing is 2.
    return 2


def error_lines(exc: ApiError) -> list[str]:
    """The API's error message, then one line per detail (where: what); they may quote what an
    action printed or a user sent, so shown visible (attune.cli.output.visible)."""
    lines = [f"error ({exc.status}): {exc}"]
    for detail in exc.details:  # file:line:column as `attune validate` prints it, else the field
        where = detail.get("file") or detail.get("path") or ""
        line = f":{detail['line']}:{detail.get('column', 1)}" if detail.get("line") else ""
        lines.append(f"  {where}{line}: {detail.get('message')}")
    return [visible(line) for line in lines]


def api_error(resp: httpx.Response) -> ApiError:
    """An error answer as ApiError (the API's envelope, or its text when it is not JSON)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    error = body.get("error", {}) if isinstance(body, dict) else {}
    if not isinstance(error, dict) or "message" not in error:
        # Not the API's envelope: another server at that address (Temporal's Web UI port is an
        # easy mix-up), or a proxy in front of it. Its page of HTML was printed as the error.
        return not_the_api(resp, "error ")
    return ApiError(resp.status_code, error.get("message", resp.text), error.get("details"))


def not_the_api(resp: httpx.Response, kind: str = "") -> ApiError:
    """An answer that is not in the API's format, with what it said and the next step."""
    try:
        server = f"{resp.request.url.scheme}://{resp.request.url.netloc.decode()}"
    except RuntimeError:  # a response made without a request
        server = "the API's address"
    text = " ".join(resp.text.split())
    said = f": {text[:120]}{'…' if len(text) > 120 else ''}" if text else ""
    return ApiError(resp.status_code, f"the server at {server} answered without the API's {kind}"
                    f"format ({resp.status_code}{said}): is it Attune's API? Else give the API's "
                    "address: --api-url or ATTUNE_API_URL")


def progress_table(execution: dict[str, Any], tasks: list[dict[str, Any]], *,
                   kept: Sequence[dict[str, Any]] = (), asking: Sequence[dict[str, Any]] = (),
                   more: int = 0, waiting: Sequence[dict[str, Any]] = (),
                   actions: dict[str, str] | None = None, now: datetime | None = None,
                   limit: int | None = None) -> Table | Text | Group:
    """The run's task attempts under its status (a re-run's kept tasks first, then what it ran),
    the tasks that wait for a timer (`waiting`, see _Watch.waits: `delayed`, `retrying`, with
    when; `actions`: task name -> action ref) and the inquiries it waits for; a plain action
    with none of these is its status line. At most `limit` task rows (see _rows_shown), the
    others counted in a line under the table."""
    title = f"{execution['action_ref']} #{execution['id']}: {execution['status']}"
    if execution.get("status_detail"):
        title += f"\n{execution['status_detail']}"
    shown = _rows_shown(tasks, limit)
    lines = [cell(_hidden_line(tasks, shown, execution["id"]), "dim")] if len(shown) < len(tasks) else []
    lines += [cell(_asking_line(q), "yellow") for q in asking]
    if more > 0:
        lines.append(cell(_more_line(more, execution["id"]), "yellow"))
    if not tasks and not kept and not waiting:
        return Group(cell(title), *lines) if lines else cell(title)
    table = Table("task", "action", "item", "attempt", "status", title=cell(title))
    for task in sorted(kept, key=_started_order):
        wt = task.get("workflow_task") or {}
        table.add_row(cell(_task_label(wt)), cell(task["action_ref"]), _item(wt), "",
                      Text(f"kept from #{task.get('parent', '?')}", style="dim"))
    for task in sorted(shown, key=_started_order):  # ids are reserved in blocks: not run order
        wt = task.get("workflow_task") or {}
        table.add_row(cell(_task_label(wt)), cell(task["action_ref"]), _item(wt),
                      str(wt.get("retry_count", 0) + 1), styled(task["status"]))
    now = now or datetime.now(UTC)
    for wait in waiting:  # no record yet: the attempt the timer starts
        action = (actions or {}).get(wait["task"]) \
            or next((t["action_ref"] for t in tasks if _is_of(t, wait)), "")
        table.add_row(cell(wait["task"]), cell(action), _item(wait),
                      str(wait.get("retry_count", 0) + 1), _wait_cell(wait, now))
    return Group(table, *lines) if lines else table


def _wait_status(wait: dict[str, Any]) -> str:
    """`delayed`: its `delay` before its first dispatch; `retrying`: the delay before a retry.
    Never `running`: no process runs it yet."""
    return "delayed" if wait.get("reason") == "delay" else "retrying"


def _wait_cell(wait: dict[str, Any], now: datetime) -> Text:
    """`delayed until 12:03:04 (in 9 s)`, `retrying attempt 2 at 12:03:04 (in 17 s)`: the
    terminal's local time, as a person there reads a clock (the date too when not today)."""
    until = _instant(wait.get("until"))
    if until is None:  # not a time we can read: as the API wrote it
        when, left = visible(str(wait.get("until"))), ""
    else:
        local, today = until.astimezone(), now.astimezone().date()
        when = local.strftime("%H:%M:%S" if local.date() == today else "%Y-%m-%d %H:%M:%S")
        seconds = math.ceil((until - now).total_seconds())
        left = f" (in {_span(seconds)})" if seconds > 0 else " (due)"
    detail = f" until {when}{left}" if wait.get("reason") == "delay" \
        else f" attempt {wait.get('retry_count', 0) + 1} at {when}{left}"
    return Text.assemble(styled(_wait_status(wait)), detail)


def _instant(text: Any) -> datetime | None:
    """An API time (UTC ISO 8601) as an aware datetime; None when it is not one."""
    try:
        instant = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _span(seconds: int) -> str:
    """A wait as a person reads it: `9 s`, `4m 05s`, `3h 20m`, `12d 4h`."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def _wait_line(wait: dict[str, Any]) -> Text:
    """A wait said once in line mode: `task later: delayed until <UTC time>`, `task oops:
    retrying at <UTC time> (attempt 2)`, the time as the API gives it, as the CLI prints times."""
    item = f"[{wait['task_index']}]" if wait.get("task_index") is not None else ""
    until = visible(str(wait.get("until")))
    detail = f" until {until}" if wait.get("reason") == "delay" \
        else f" at {until} (attempt {wait.get('retry_count', 0) + 1})"
    return Text.assemble(visible(f"task {wait['task']}{item}: "), styled(_wait_status(wait)), detail)


def _item(wt: dict[str, Any]) -> str:
    """The item (`37`), or the items of a slice of a large with_items (`1500-1999`)."""
    if wt.get("task_index") is not None:
        return str(wt["task_index"])
    span = _span_of(wt)
    return f"{span[0]}-{span[1] - 1}" if span else ""


def _span_of(wt: dict[str, Any]) -> tuple[int, int] | None:
    """A slice's items [start, end): a with_items of more than 500 items runs as nested runs of
    up to 500 (SLICE_SIZE), each one record; None for anything else."""
    span = wt.get("items_span")
    if isinstance(span, list) and len(span) == 2 and all(isinstance(n, int) for n in span):
        return span[0], span[1]
    return None


def _task_label(wt: dict[str, Any]) -> str:
    """The task's name, with the run's number when a loop runs it again (`step #3`): 500 runs
    of a loop's task read alike."""
    iteration = wt.get("iteration")
    again = f" #{iteration}" if isinstance(iteration, int) and iteration > 1 else ""
    return f"{wt.get('task_name', '?')}{again}"


FINAL_ROWS = 500  # task rows of the table left on screen once the run has ended
LIVE_MARGIN = 8  # lines of the terminal the live table's title, borders and notes take


def _rows_shown(tasks: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """At most `limit` of the task records, those that matter most: the running ones, then
    the failed ones, then the latest to end (the table is drawn in run order all the same)."""
    if limit is None or len(tasks) <= limit:
        return tasks
    def urgency(task: dict[str, Any]) -> int:
        return 0 if task["status"] not in TERMINAL else 1 if task["status"] != "completed" else 2
    newest_first = sorted(tasks, key=_started_order, reverse=True)
    return sorted(newest_first, key=urgency)[:max(limit, 1)]  # stable: newest first in each rank


def _hidden_line(tasks: list[dict[str, Any]], shown: list[dict[str, Any]], execution_id: int) -> str:
    """The rows the table left out, counted by status, and where to read them all."""
    ids = {t["id"] for t in shown}
    counts: dict[str, int] = {}
    for task in tasks:
        if task["id"] not in ids:
            counts[task["status"]] = counts.get(task["status"], 0) + 1
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return (f"… {len(tasks) - len(shown)} more task records not shown ({by_status}): "
            f"attune execution list --parent {execution_id}")


def _asking_line(inquiry: dict[str, Any]) -> str:
    """A pending inquiry the run waits for, and how to answer it from here."""
    fields = " ".join(f"{shlex.quote(name)}=…" for name in (inquiry.get("response_schema") or {}))
    prompt = f" “{inquiry['prompt']}”" if inquiry.get("prompt") else ""
    return (f"waiting for inquiry {inquiry['id']}{prompt}: "
            f"attune inquiry respond {inquiry['id']}{' ' + fields if fields else ''}")


VIEW_ROWS_PER_READ = 200  # a workflow view of more task records is read less often, in proportion
ASKING_SHOWN = 20  # pending inquiries named while following a run; the rest are counted


def _more_line(more: int, execution_id: int) -> str:
    return (f"… and {more} more inquir{'y' if more == 1 else 'ies'} waiting: attune inquiry list "
            f"--execution {execution_id} --status pending")


class _Watch:
    """What following a run reads besides its tasks: the tasks a re-run kept (once), the
    inquiries it waits for (at most every ASK_EVERY s: a person answers in seconds, not ms) and
    the tasks that wait for a timer, a `delay` or a retry's (the workflow view's `waiting`, at
    most every WAIT_EVERY s: such waits are seconds long; it holds every task's record)."""

    ASK_EVERY = 2.0
    WAIT_EVERY = 1.0

    def __init__(self, api: Api, execution: dict[str, Any], *, kept: bool = True) -> None:
        self.api, self.id = api, execution["id"]
        rerun = kept and execution.get("rerun_of")
        self.kept = self._kept() if rerun else []
        self._kept_known = not rerun or bool(self.kept)
        self.asking: list[dict[str, Any]] = []
        self.more = 0  # pending inquiries past the ASKING_SHOWN listed
        self._asked_at = float("-inf")
        self._told: set[int] = set()
        self._told_more = 0
        self.waiting: list[dict[str, Any]] = []  # the view's, as last read
        self.actions: dict[str, str] = {}  # task name -> action ref, from the run's task graph
        self._view_ids: set[int] = set()  # the task records the view read had
        self._viewed_at = float("-inf")
        self._every = self.WAIT_EVERY
        self._no_view = False  # a plain action: it has no workflow view
        self._told_waits: set[tuple[Any, ...]] = set()

    def keep_reading_kept(self, tasks: list[dict[str, Any]], execution: dict[str, Any]) -> None:
        """The kept tasks reach the records with the re-run's first tasks, a moment after the
        201: read them until then (`tail` right after `rerun` showed none for the whole run).
        `tasks` were read before this, so once there are any, this read has the kept ones."""
        if not self._kept_known:
            self.kept = self._kept()
            self._kept_known = bool(self.kept) or bool(tasks) or execution["status"] in TERMINAL

    def _kept(self) -> list[dict[str, Any]]:
        try:
            view = self._view()
        except ApiError:  # a plain action re-run: nothing kept
            return []
        return list(view.get("kept_tasks") or [])

    def _view(self) -> dict[str, Any]:
        body = self.api.read(route("executions", self.id, "workflow"))
        data = body.get("data") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else {}

    def read_waits(self, execution: dict[str, Any]) -> None:
        """The tasks that wait for a timer, from the workflow view when WAIT_EVERY s have passed
        since it was read (none once the run has ended). Read before the run's task records,
        so that those are as new as the view or newer (see waits)."""
        if self._no_view or execution["status"] in TERMINAL:
            self.waiting = []
            return
        now = time.monotonic()
        if now - self._viewed_at < self._every:
            return
        self._viewed_at = now
        try:
            view = self._view()
        except ApiError as exc:
            if exc.status == 404:  # not a workflow: never any
                self._no_view, self.waiting = True, []
            return  # else (a server error) as last read: the next read may do
        self.waiting = [w for w in view.get("waiting") or [] if isinstance(w, dict) and w.get("task")]
        graph = view.get("task_graph")
        self.actions = {name: str(node["action"]) for name, node in (graph or {}).items()
                        if isinstance(node, dict) and node.get("action")} if isinstance(graph, dict) else {}
        self._view_ids = {t["id"] for t in view.get("tasks") or [] if isinstance(t, dict) and "id" in t}
        # The view holds every task's record: a run of thousands of items is read less often.
        self._every = self.WAIT_EVERY * max(1.0, len(self._view_ids) / VIEW_ROWS_PER_READ)

    def waits(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The waits to show beside `tasks` (read after the view): those of a task (of its item,
        for an item's retry) none of whose records runs, nor has started since the view was
        read (the timer is over: that is the attempt it started)."""
        shown = []
        for wait in self.waiting:
            mine = [t for t in tasks if _is_of(t, wait)]
            if not any(t["status"] not in TERMINAL or t["id"] not in self._view_ids for t in mine):
                shown.append(wait)
        return shown

    def wait_news(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The waits to say in line mode, each once (a later wait of the same task is another)."""
        news = []
        for wait in self.waits(tasks):
            key = (wait["task"], wait.get("task_index"), wait.get("reason"), wait.get("retry_count"),
                   wait.get("until"))
            if key not in self._told_waits:
                self._told_waits.add(key)
                news.append(wait)
        return news

    def inquiries(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        if execution["status"] in TERMINAL:
            return []
        now = time.monotonic()
        if now - self._asked_at >= self.ASK_EVERY:
            self._asked_at = now
            body = self.api.read("/inquiries", params={"execution": self.id, "status": "pending",
                                                       "per_page": ASKING_SHOWN})
            self.asking = sorted(body["items"], key=lambda q: q["id"])
            self.more = body["pagination"]["total_items"] - len(self.asking)
        return self.asking

    def news(self, execution: dict[str, Any]) -> list[str]:
        """The lines to say of the inquiries the run waits for, each once: which one and how
        to answer it, and how many more there are when that changes."""
        pending = self.inquiries(execution)
        lines = []
        for inquiry in pending:
            if inquiry["id"] not in self._told:
                self._told.add(inquiry["id"])
                lines.append(_asking_line(inquiry))
        if pending and self.more > 0 and self.more != self._told_more:
            self._told_more = self.more
            lines.append(_more_line(self.more, execution["id"]))
        return lines


def _is_of(task: dict[str, Any], wait: dict[str, Any]) -> bool:
    """Whether a task record is of the task a wait is for (and of its item, when it has one)."""
    wt = task.get("workflow_task") or {}
    return bool(wt.get("task_name") == wait["task"]
                and (wait.get("task_index") is None or wt.get("task_index") == wait["task_index"]))


class _Records:
    """A run's task records as last read, kept fresh without reading them all at every poll.
    The API cannot list only what changed, but an ended record does not change: each poll reads
    the records that have not ended (the few running), then the ended ones newest first until a
    page has nothing new, then by id those that stopped running and were not on those pages (a
    long task's record is deep in the list by the time it ends). All of them are read at every
    poll while they are few, else every FULL_EVERY s per PAGE_MAX records (a row written late,
    dated before rows already read) and once the run has ended."""

    FEW = 100  # records read whole at every poll, as one page
    FULL_EVERY = 5.0
    PAGE = 100  # ended records per incremental page
    BY_ID = 20  # records that stopped running read one by one; more: all of them again

    def __init__(self, api: Api, execution_id: int) -> None:
        self.api, self.id = api, execution_id
        self.known: dict[int, dict[str, Any]] = {}
        self._full_at = float("-inf")

    def read(self, final: bool = False) -> list[dict[str, Any]]:
        now = time.monotonic()
        every = self.FULL_EVERY * max(1.0, len(self.known) / PAGE_MAX)
        if final or len(self.known) < self.FEW or now - self._full_at >= every or not self._read_changes():
            self.known = {t["id"]: t for t in self.api.children(self.id)}
            self._full_at = now
        return list(self.known.values())

    def _read_changes(self) -> bool:
        """Read what changed since the last read; False when a whole read is cheaper."""
        running = self.api.children(self.id, status=ACTIVE)
        ended = {i for i, t in self.known.items() if t["status"] not in TERMINAL} - {t["id"] for t in running}
        self.known.update((t["id"], t) for t in running)
        for page in self.api.child_pages(self.id, status=ENDED, per_page=self.PAGE):
            news = [t for t in page if (self.known.get(t["id"]) or {}).get("status") != t["status"]]
            self.known.update((t["id"], t) for t in page)
            ended -= {t["id"] for t in page}
            if not news:
                break
        if len(ended) > self.BY_ID:
            return False
        for gone in ended:
            try:
                self.known[gone] = self.api.execution(gone)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                self.known.pop(gone, None)  # deleted meanwhile
        return True


def follow(api: Api, execution: dict[str, Any], console: Console, interval: float = 0.3) -> dict:
    """In a terminal, redraw the task table until the execution ends; elsewhere (a CI job's log,
    a pipe), print a line each time a task attempt changes state. Returns the final record."""
    watch = _Watch(api, execution)
    records = _Records(api, execution["id"])
    if not console.is_terminal:
        return _follow_in_lines(api, watch, records, execution, console, interval)
    with Live(Group(), console=console, refresh_per_second=8) as live:
        while True:
            watch.read_waits(execution)
            ended = execution["status"] in TERMINAL
            tasks = records.read(final=ended)
            watch.keep_reading_kept(tasks, execution)
            asking = watch.inquiries(execution)
            waiting = watch.waits(tasks)
            # Cut to the terminal's height (Live would crop it to "..." with no count), and
            # the table left on screen at the end to FINAL_ROWS.
            room = console.size.height - LIVE_MARGIN - len(asking) - len(watch.kept) - len(waiting)
            live.update(progress_table(execution, tasks, kept=watch.kept, asking=asking,
                                       more=watch.more if asking else 0, waiting=waiting,
                                       actions=watch.actions, limit=FINAL_ROWS if ended else max(room, 3)))
            if ended:
                return execution
            execution = api.execution(execution["id"], wait=interval)  # returns at the end


def _follow_in_lines(api: Api, watch: _Watch, records: _Records, execution: dict[str, Any],
                     console: Console, interval: float) -> dict:
    seen: dict[int, str] = {}
    detail = None
    told_kept: set[int] = set()
    while True:
        if execution.get("status_detail") != detail:  # e.g. stuck: its workflow task keeps failing
            detail = execution.get("status_detail")
            if detail:
                console.print(cell(f"execution {execution['id']}: {detail}", "yellow"))
        watch.read_waits(execution)
        tasks = records.read(final=execution["status"] in TERMINAL)
        watch.keep_reading_kept(tasks, execution)
        for task in sorted((t for t in watch.kept if t["id"] not in told_kept), key=_started_order):
            told_kept.add(task["id"])
            console.print(cell(f"{_attempt(task)} ({task['action_ref']}): kept from execution "
                               f"{task.get('parent', '?')} (not run again)", style="dim"))
        for task in sorted(tasks, key=_started_order):
            if seen.get(task["id"]) != task["status"]:
                seen[task["id"]] = task["status"]
                console.print(Text.assemble(visible(f"{_attempt(task)} ({task['action_ref']}): "),
                                            styled(task["status"])))
        for wait in watch.wait_news(tasks):
            console.print(_wait_line(wait))
        for line in watch.news(execution):
            console.print(cell(line, "yellow"))
        if execution["status"] in TERMINAL:
            return execution
        execution = api.execution(execution["id"], wait=interval)


def _started_order(task: dict[str, Any]) -> tuple[str, int]:
    return task.get("created") or "", task["id"]


def _attempt(task: dict[str, Any]) -> str:
    """`task each[37]`, `task each items 1500-1999` (a slice), `task step #3` (a loop's third
    run), with ` attempt N` for a retry."""
    wt = task.get("workflow_task") or {}
    span = _span_of(wt)
    item = f"[{wt['task_index']}]" if wt.get("task_index") is not None \
        else f" items {span[0]}-{span[1] - 1}" if span else ""
    iteration = wt.get("iteration")
    again = f" #{iteration}" if isinstance(iteration, int) and iteration > 1 else ""
    attempt = f" attempt {wt['retry_count'] + 1}" if wt.get("retry_count") else ""
    return f"task {wt.get('task_name', '?')}{item}{again}{attempt}"


def run_via_api(settings: Settings, action_ref: str, parameters: dict[str, Any], *, output: str,
                wait: bool, console: Console, err: Console) -> int:
    return submit_and_watch(settings, "/executions/execute",
                            {"action_ref": action_ref, "parameters": parameters},
                            output=output, wait=wait, console=console, err=err)


def rerun_via_api(settings: Settings, execution_id: str, body: dict[str, Any], *, output: str,
                  wait: bool, console: Console, err: Console) -> int:
    return submit_and_watch(settings, route("executions", execution_id, "rerun"), body,
                            output=output, wait=wait, console=console, err=err,
                            heading=lambda new: f"re-run of {execution_id} is execution {new['id']}")


def submit_and_watch(settings: Settings, path: str, body: dict[str, Any], *, output: str,
                     wait: bool, console: Console, err: Console,
                     heading: Callable[[dict[str, Any]], str] | None = None) -> int:
    """What `run` and `execution rerun` do: POST the submission, then unless `wait` is off
    follow the new execution to its end (exit as it ended, 130 on Ctrl-C). `heading` of the
    new record goes first in people's output."""
    api = Api(settings, notice=lambda text: err.print(f"warning: {text}", highlight=False))
    try:
        execution = api.item("POST", path, json=body)
    except (ApiError, ConnectionError) as exc:
        return report_api_error(err, exc)
    if not wait:  # the id alone for a table (for $(...)); the record as submitted for json/yaml
        if not dump(console, execution, output):
            console.print(str(execution["id"]))
        return 0
    if heading and output == "table":
        console.print(heading(execution), highlight=False)
    return watch_to_end(api, execution, output, console, err)


def watch_to_end(api: Api, execution: dict[str, Any], output: str, console: Console,
                 err: Console) -> int:
    """Follow an execution to its end, then its result; the exit code as it ended."""
    try:
        execution = until_end(api, execution, output, console, err)
    except (ApiError, ConnectionError) as exc:
        code = report_api_error(err, exc)
        _goes_on(err, execution["id"])
        return code
    except KeyboardInterrupt:  # Ctrl-C stops the watching, not the run: say how to find it again
        _goes_on(err, execution["id"], stop=True)
        return EXIT_INTERRUPTED
    show_result(console, execution, output)
    why_failed(api, execution, output, console)
    return exit_code(execution["status"])


def _goes_on(err: Console, execution_id: int, *, stop: bool = False) -> None:
    err.print(f"execution {execution_id} goes on without this command: `attune execution tail "
              f"{execution_id}` follows it again"
              + (f", `attune execution cancel {execution_id}` stops it" if stop else ""), highlight=False)


def why_failed(api: Api, execution: dict[str, Any], output: str, console: Console) -> None:
    """Under a failed workflow's result ("1 task(s) failed: three"), each failed task's own
    error: the reason was one `execution list --parent` away. People's output only."""
    if output != "table" or execution["status"] not in ("failed", "timeout"):
        return
    try:
        tasks = api.children(execution["id"], status=FAILED)
    except (ApiError, ConnectionError):
        return
    failed = sorted(tasks, key=_started_order)
    named = _failed_names(execution)  # the run names the tasks that failed it, not handled ones
    if named:
        failed = [t for t in failed if (t.get("workflow_task") or {}).get("task_name") in named]
    for task in failed[-MAX_REASONS:]:
        path, task = _root_cause(api, task)
        items, more = _failed_items(api, task)
        for item in items:  # a slice of a large with_items: the items that failed it
            _say_failed(console, [*path[:-1], _attempt(item).removeprefix("task " if len(path) > 1 else "")], item)
        if more:
            console.print(f"… and {more} more failed item(s): attune execution list --parent {task['id']} "
                          "--status failed", highlight=False)
        if not items:
            _say_failed(console, path, task)
    if len(failed) > MAX_REASONS:
        console.print(f"… {len(failed) - MAX_REASONS} more: attune execution list --parent {execution['id']} "
                      "--status failed", highlight=False)


def _say_failed(console: Console, path: list[str], task: dict[str, Any]) -> None:
    error = _error(task)
    console.print(Text.assemble(visible(f"{' → '.join(path)} ({task['action_ref']}, execution {task['id']}): "),
                                styled(task["status"]), visible(f": {error}") if error else ""))


MAX_REASONS = 5
MAX_DESCENT = 25  # nested runs followed down to the task that failed first (nesting stops at 20)


def _error(task: dict[str, Any]) -> str | None:
    result = task.get("result")
    return result.get("error") if isinstance(result, dict) else None


def _is_slice(task: dict[str, Any]) -> bool:
    """A slice of a large with_items (see _span_of); a record from an API that does not say
    so: a failed record whose result is its items' list."""
    return _span_of(task.get("workflow_task") or {}) is not None or isinstance(task.get("result"), list)


def _failed_items(api: Api, task: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """A failed slice's failed items, first MAX_REASONS by index (each item's last attempt:
    a retried item that then passed did not fail it), and how many more failed; none for a
    record that is not a slice. Its items' records are its children."""
    if not _is_slice(task):
        return [], 0
    try:
        children = api.children(task["id"])
    except (ApiError, ConnectionError):
        return [], 0
    last: dict[Any, dict[str, Any]] = {}
    for item in sorted(children, key=_started_order):
        last[(item.get("workflow_task") or {}).get("task_index")] = item
    failed = sorted((t for t in last.values() if t["status"] in FAILED.split(",")),
                    key=lambda t: ((t.get("workflow_task") or {}).get("task_index") or 0, t["id"]))
    shown = [api.execution(t["id"]) if "result" in (t.get("omitted") or []) else t
             for t in failed[:MAX_REASONS]]
    return shown, len(failed) - len(shown)


def _root_cause(api: Api, task: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """A failed nested workflow's task says only "Workflow failed: 1 task(s) failed: down";
    the reason (a limit, an action's error) is on a task some levels down. Follow the failed
    tasks it names down to the first one that is not a nested run, saying the way there."""
    path = [_attempt(task)]
    for _ in range(MAX_DESCENT):
        if "result" in (task.get("omitted") or []) and not _is_slice(task):  # too large for a list
            task = api.execution(task["id"])
        named = _failed_names(task)
        if not named:
            break
        try:
            below = [t for t in sorted(api.children(task["id"], status=FAILED), key=_started_order)
                     if (t.get("workflow_task") or {}).get("task_name") in named]
        except (ApiError, ConnectionError):
            break
        if not below:
            break
        task = below[0]
        path.append(_attempt(task).removeprefix("task "))
    return path, task


def _failed_names(execution: dict[str, Any]) -> set[str]:
    """The task names in a run's "Workflow failed: N task(s) failed: a, b" (empty otherwise)."""
    result = execution.get("result")
    error = result.get("error") if isinstance(result, dict) else None
    _, found, names = str(error or "").partition(" task(s) failed: ")
    return {n.strip() for n in names.split(",") if n.strip()} if found else set()


def until_end(api: Api, execution: dict[str, Any], output: str, console: Console,
              err: Console) -> dict:
    """The record once it has ended: followed task by task for people (table), quietly for
    json and yaml, whose output is the record alone: an inquiry the run waits for is said on
    stderr there (else a script's run waited for a person who did not know it)."""
    if output == "table":
        return follow(api, execution, console)
    watch = _Watch(api, execution, kept=False)
    while True:
        for line in watch.news(execution):
            err.print(cell(line, "yellow"))
        if execution["status"] in TERMINAL:
            return execution
        # Long-polled (< the 30 s HTTP timeout), as often as inquiries are looked for.
        execution = api.execution(execution["id"], wait=watch.ASK_EVERY)


# ---- `attune execution ...` -------------------------------------------------------------------------

def get_execution(settings: Settings, execution_id: str, output: str, console: Console,
                  err: Console) -> int:
    try:
        execution = Api(settings).execution(execution_id)
    except (ApiError, ConnectionError) as exc:
        return report_api_error(err, exc)
    if not dump(console, execution, output):
        print_table(console, execution, ["id", "action_ref", "status", "parent", "started_at",
                                         "ended_at", "updated"])
        if execution.get("status_detail"):
            console.print(cell(execution["status_detail"], "yellow"))
        show_result(console, execution, "table")
    # As `run` and `tail`: 1 for an execution that ended failed, timeout or cancelled (a script
    # checking one with `get` need not parse its output); 0 while it has not ended.
    return exit_code(execution["status"]) if execution["status"] in TERMINAL else 0


def list_executions(settings: Settings, filters: dict[str, Any], output: str, console: Console,
                    err: Console) -> int:
    return _list(settings, "/executions", filters, LIST_COLUMNS, ("execution", "executions"), output,
                 console, err)


def _list(settings: Settings, path: str, filters: dict[str, Any], columns: list[str],
          nouns: tuple[str, str], output: str, console: Console, err: Console) -> int:
    """One page of a listing: a table and the page line, or json/yaml as the API answers."""
    try:
        api = Api(settings)
        body = _page(api.call("GET", path, params={k: v for k, v in filters.items() if v is not None}), api.url)
    except (ApiError, ConnectionError) as exc:
        return report_api_error(err, exc)
    if not dump(console, body, output):
        if body["items"]:  # no header row over nothing
            print_table(console, body["items"], columns)
        p = body["pagination"]
        if not p["total_items"]:
            filtered = any(v is not None for k, v in filters.items() if k not in ("page", "per_page"))
            console.print(f"no {nouns[0]} matches" if filtered else f"no {nouns[1]} yet")
        else:
            console.print(f"page {p['page']}/{p['total_pages']} · {p['total_items']} {nouns[0]}(s)")
    return 0


def control_execution(settings: Settings, execution_id: str, verb: str, output: str,
                      console: Console, err: Console, body: dict[str, Any] | None = None) -> int:
    """cancel, pause or resume: the execution as the API answers."""
    try:
        execution = Api(settings).item("POST", route("executions", execution_id, verb), json=body)
    except (ApiError, ConnectionError) as exc:
        return report_api_error(err, exc)
    if not dump(console, execution, output):
        console.print(Text.assemble(f"execution {execution['id']}: ", styled(execution["status"])))
    return 0


# ---- `attune inquiry ...` ---------------------------------------------------------------------------

INQUIRY_COLUMNS = ["id", "status", "prompt", "assigned_to", "execution", "timeout_at"]


def list_inquiries(settings: Settings, filters: dict[str, Any], output: str, console: Console,
                   err: Console) -> int:
    return _list(settings, "/inquiries", filters, INQUIRY_COLUMNS, ("inquiry", "inquiries"), output,
                 console, err)


def get_inquiry(settings: Settings, inquiry_id: str, output: str, console: Console, err: Console) -> int:
    try:
        inquiry = Api(settings).item("GET", route("inquiries", inquiry_id))
    except (ApiError, ConnectionError) as exc:
        return report_api_error(err, exc)
    if not dump(console, inquiry, output):
        print_table(console, inquiry, INQUIRY_COLUMNS)
        if inquiry["status"] == "pending":
            console.print(f"answer with: {as_json(inquiry.get('response_schema') or {})}", highlight=False)
        elif inquiry.get("response") is not None:
            console.print(f"response ({inquiry.get('responded_at')}): {as_json(inquiry['response'])}",
                          highlight=False, soft_wrap=True)
    return 0


def execution_action_schema(settings: Settings, execution_id: str) -> dict[str, str] | None:
    """name -> type of the parameters of an execution's action (to read k=v edits by)."""
    from attune.cli.commands import action_schema

    try:
        ref = Api(settings).execution(execution_id)["action_ref"]
    except (ApiError, ConnectionError):
        return None
    return action_schema(settings, ref, direct=False)


def inquiry_schema(settings: Settings, inquiry_id: str) -> dict[str, str] | None:
    """name -> type of an inquiry's response_schema, to read k=v answers by (None: unknown)."""
    try:
        schema = Api(settings).item("GET", route("inquiries", inquiry_id)).get("response_schema") or {}
    except (ApiError, ConnectionError):
        return None
    return {name: spec.get("type", "string") for name, spec in schema.items() if isinstance(spec, dict)}


def respond_inquiry(settings: Settings, inquiry_id: str, response: dict[str, Any], output: str,
                    console: Console, err: Console) -> int:
    try:
        inquiry = Api(settings).item("POST", route("inquiries", inquiry_id, "respond"),
                                     json={"response": response})
    except (ApiError, ConnectionError) as exc:
        return report_api_error(err, exc)
    if not dump(console, inquiry, output):
        console.print(Text.assemble(f"inquiry {inquiry['id']}: ", styled(inquiry["status"])))
    return 0


def tail_execution(settings: Settings, execution_id: str, output: str, console: Console,
                   err: Console) -> int:
    api = Api(settings, notice=lambda text: err.print(f"warning: {text}", highlight=False))
    try:
        execution = api.execution(execution_id)
    except (ApiError, ConnectionError) as exc:
        return report_api_error(err, exc)
    return watch_to_end(api, execution, output, console, err)


def register_pack(settings: Settings, path: str, output: str, console: Console,
                  err: Console) -> int:
    try:
        pack = Api(settings).item("POST", "/packs/register", json={"path": path})
    except (ApiError, ConnectionError) as exc:
        code = report_api_error(err, exc)
        # The pack has problems (422, each with file:line:column): as `attune validate` says so.
        return 1 if isinstance(exc, ApiError) and exc.status == 422 else code
    if not dump(console, pack, output):  # the record, as every other command prints one
        console.print(f"registered pack {visible(str(pack.get('ref')))}", highlight=False)
    return 0
