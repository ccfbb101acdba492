"""/inquiries: human approvals (spec §9). Answers are validated against the inquiry's
response_schema and reach the waiting run through the records mirror (its outbox).

An answer's `secret: true` fields are sealed here, before the answer is stored: the mirror tells
the run the stored answer, so Temporal's history holds them sealed, a later task gets one in
clear only passed whole to its input (its worker unseals it), and every record shows ********
(spec §7), as for secret parameters (attune.secrets)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from attune.api import schemas
from attune.api.deps import AppState, Principal
from attune.api.errors import ApiError, not_found
from attune.packs.models import Action, ParameterSpec
from attune.packs.parameters import validate_parameters
from attune.problems import at_path, under
from attune.records import inquiries as records
from attune.records.models import InquiryRow, utc, utcnow
from attune.secrets import redact, seal_parameters, sealed_at
from attune.statuses import InquiryStatus


def to_schema(s: Session, row: InquiryRow) -> schemas.Inquiry:
    records.link_executions(s, [row])
    return _shown(row)


def _shown(row: InquiryRow) -> schemas.Inquiry:
    """The inquiry as the API shows it: a secret field's answer is ********, sealed or (an
    answer given before answers were sealed) in clear."""
    shown = schemas.Inquiry.model_validate(row)
    if not isinstance(shown.response, dict):
        return shown
    secret = _asker(_schema(row)).secret_names()
    return shown.model_copy(update={"response": redact(shown.response, secret)})


def create(state: AppState, principal: Principal, body: schemas.InquiryCreate) -> tuple[schemas.Inquiry, bool]:
    if principal.token is None:
        raise ApiError(403, "an inquiry is created by a running action, with the execution token "
                            "it finds in ATTUNE_API_TOKEN (or by a core.ask task)")
    with state.db.session() as s:
        row, created = records.create(
            s, attempt_key=principal.token.key, root_workflow_id=principal.token.root,
            prompt=body.prompt, purpose=body.purpose, assigned_to=body.assigned_to,
            response_schema={n: p.model_dump(exclude_defaults=True) for n, p in body.response_schema.items()},
            timeout_seconds=body.timeout_seconds)
        return to_schema(s, row), created


def get(state: AppState, principal: Principal, inquiry_id: int) -> schemas.Inquiry:
    with state.db.session() as s:
        row = s.get(InquiryRow, inquiry_id)
        if row is None or (principal.token is not None and row.root_workflow_id != principal.token.root):
            raise not_found("inquiry", inquiry_id)
        return to_schema(s, row)


def list_page(state: AppState, f: records.InquiryFilter, page: int,
              per_page: int) -> schemas.Page[schemas.Inquiry]:
    with state.db.session() as s:
        rows, total = records.list_inquiries(s, f, page, per_page)
        return schemas.Page[schemas.Inquiry](
            items=[_shown(r) for r in rows],
            pagination=schemas.Pagination.of(page, per_page, total))


def respond(state: AppState, inquiry_id: int, response: dict[str, Any]) -> schemas.Inquiry:
    """Validated against response_schema (422 lists every problem); a second answer, or one
    after the timeout, is 409. The waiting run is told by the mirror's next pass (poked now)."""
    with state.db.session() as s:
        row = s.get(InquiryRow, inquiry_id)
        if row is None:
            raise not_found("inquiry", inquiry_id)
        _still_open(row)
        if (path := sealed_at(response, "response")) is not None:  # the run would unseal it
            raise ApiError(422, f"{path}: a sealed secret value cannot be given as an answer",
                           [{"path": path, "message": "sealed secret value"}])
        asker = _asker(_schema(row))
        checked, problems = validate_parameters(asker, response, noun="field")
        if problems:
            problems = [p if p.path != "parameters" else at_path("response", p.message) for p in problems]
            raise ApiError(422, f"{len(problems)} problem(s) with the response to inquiry {inquiry_id}",
                           [p.detail() for p in under("response", problems)])
        sealed = seal_parameters(checked, asker.secret_names(), state.secret_key)
        _settle(s, row, InquiryStatus.RESPONDED, response=sealed, responded_at=utcnow())
        answered = to_schema(s, row)
    state.mirror.poke()
    return answered


def cancel(state: AppState, inquiry_id: int) -> schemas.Inquiry:
    """No answer will come: the waiting task fails (its failed() transitions fire)."""
    with state.db.session() as s:
        row = s.get(InquiryRow, inquiry_id)
        if row is None:
            raise not_found("inquiry", inquiry_id)
        _still_open(row)
        _settle(s, row, InquiryStatus.CANCELLED)
        cancelled = to_schema(s, row)
    state.mirror.poke()
    return cancelled


def _settle(s: Session, row: InquiryRow, status: InquiryStatus, **values: Any) -> None:
    """A second answer sent at the same moment as the first loses here, not silently."""
    if not records.settle(s, row, status, **values):
        _still_open(row)  # answered, cancelled or timed out meanwhile: 409 saying which
        raise ApiError(409, f"inquiry {row.id} changed while this request was checked; read it again")


def _still_open(row: InquiryRow) -> None:
    if row.status != InquiryStatus.PENDING:
        said = {"timeout": "timed out", "responded": "answered"}.get(row.status, row.status)
        raise ApiError(409, f"inquiry {row.id} is already {said}")
    if row.timeout_at is not None:
        timeout_at = utc(row.timeout_at)
        if timeout_at <= utcnow():
            raise ApiError(409, f"inquiry {row.id} timed out at {timeout_at.isoformat()}")


def _schema(row: InquiryRow) -> dict[str, ParameterSpec]:
    return {name: ParameterSpec.model_validate(spec) for name, spec in (row.response_schema or {}).items()}


def _asker(schema: dict[str, ParameterSpec]) -> Action:
    """The response schema as an action's parameters, so answers meet the same checks."""
    return Action(ref="inquiry.response", pack_ref="inquiry", parameters=schema)
