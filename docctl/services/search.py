"""Full-text search over number, title and text, and the filtered, sorted, paginated document lists.

One interface over two engines: SQLite FTS5 (`revision_search` virtual table) and PostgreSQL full-text search
(`revision_search.body`, a tsvector with a GIN index). The index is written in the same transaction as the
revision or the title change it reflects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Select, func, literal_column, select, text
from sqlalchemy.orm import Session

from docctl.db.models import Document, DocumentType, Revision, User
from docctl.domain.lifecycle import State
from docctl.domain.policy import Permission
from docctl.errors import InvalidInput
from docctl.services.principal import Principal

_WORD = re.compile(r"\w+", re.UNICODE)
SORTS = {
    "number": (Document.number,),
    "title": (Document.title, Document.number),
    "updated": (Revision.created_at.desc(), Document.number),
    "state": (Revision.state, Document.number),
}


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def index_revision(session: Session, revision: Revision, document: Document) -> None:
    if _pg(session):
        session.execute(
            text(
                "INSERT INTO revision_search (revision_id, document_id, body) "
                "VALUES (:r, :d, to_tsvector('simple', :body))"
            ),
            {"r": revision.id, "d": document.id, "body": _pg_text(document.number, document.title, revision.text)},
        )
    else:
        session.execute(
            text(
                "INSERT INTO revision_search (revision_id, document_id, number, title, body) "
                "VALUES (:r, :d, :number, :title, :body)"
            ),
            # ids as the revisions table stores them on SQLite (32 hex digits), so the subquery compares directly
            {"r": revision.id.hex, "d": document.id.hex, "number": _number_terms(document.number),
             "title": document.title, "body": revision.text},
        )


def reindex_document(session: Session, document: Document) -> None:
    """The title (or number) changed: rewrite the index entries of every revision of the document."""
    for revision in document.revisions:
        if _pg(session):
            session.execute(
                text("UPDATE revision_search SET body = to_tsvector('simple', :body) WHERE revision_id = :r"),
                {"r": revision.id, "body": _pg_text(document.number, document.title, revision.text)},
            )
        else:
            session.execute(text("DELETE FROM revision_search WHERE revision_id = :r"), {"r": revision.id.hex})
            index_revision(session, revision, document)


def _number_terms(number: str) -> str:
    # "SOP-QA-007" is indexed whole and in parts, so "SOP-QA-007", "QA" and "007" all find it
    return f"{number} {' '.join(_WORD.findall(number))} {number.replace('-', '')}"


def _pg_text(number: str, title: str, body: str) -> str:
    return f"{_number_terms(number)} {title} {body}"


def _terms(q: str) -> list[str]:
    terms = _WORD.findall(q.lower())
    if len(terms) > 20:
        raise InvalidInput("Search with at most 20 words.")
    return terms


def _match_ids(session: Session, terms: list[str]) -> Select:
    """A subquery of the revision ids whose number, title or text contain every term (the last as a prefix)."""
    if _pg(session):
        query = " & ".join(f"{t}:*" if i == len(terms) - 1 else t for i, t in enumerate(terms))
        return select(literal_column("revision_id")).select_from(text("revision_search")).where(
            text("body @@ to_tsquery('simple', :tsq)")
        ).params(tsq=query)
    fts = " ".join(f'"{t}"' + ("*" if i == len(terms) - 1 else "") for i, t in enumerate(terms))
    return select(literal_column("revision_id")).select_from(text("revision_search")).where(
        text("revision_search MATCH :fts")
    ).params(fts=fts)


def _counted(ids: Select, walk: bool, query: Query) -> Select:
    """What to count: the walking form's correlated lookup costs one probe per document, so count effective
    revisions directly, joining documents only when a filter needs them."""
    if not walk:
        return ids
    counted = select(Revision.id).where(Revision.state == State.EFFECTIVE)
    if query.type_code or query.department or query.owner:
        counted = _filtered(counted.join(Document, Document.id == Revision.document_id), query)
    return counted


def _filtered(stmt: Select, query: Query) -> Select:
    """The type, department and owner filters, on a statement that already has `Document` in its FROM."""
    if query.type_code:
        stmt = stmt.join(DocumentType, DocumentType.id == Document.type_id).where(
            DocumentType.code == query.type_code.upper()
        )
    if query.department:
        stmt = stmt.where(Document.department == query.department.upper())
    if query.owner:
        stmt = stmt.join(User, User.id == Document.owner_id).where(User.username_key == query.owner.lower())
    return stmt


@dataclass(frozen=True)
class Query:
    q: str = ""
    type_code: str = ""
    department: str = ""
    state: str = "current"  # "current" (effective), "all", or one lifecycle state
    owner: str = ""  # a user ID (username)
    sort: str = "number"
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True)
class HitDocument:
    number: str
    title: str
    type_code: str
    department: str
    external: bool


@dataclass(frozen=True)
class HitRevision:
    id: object
    version: str
    state: str
    effective_at: object


@dataclass(frozen=True)
class Hit:
    """One line of a list: only what a list shows, read as plain columns (no ORM objects: a page is cheap)."""

    revision: HitRevision
    document: HitDocument
    owner: str


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    total: int
    query: Query
    pages: int = field(default=1)


def search(session: Session, *, principal: Principal, query: Query) -> Results:
    """Revisions matching the query that the principal may see. People without the right to read work in
    progress or history (staff) only ever get current effective revisions (ISO-4.2.4d, ISO-4.2.4h).

    Two steps, so the cost follows the page and not the size of the library: the ids of the page (with only the
    joins the filters need, driven by the full-text match when there is one), then those 25 rows."""
    principal.require(Permission.DOCUMENTS_READ)
    if query.sort not in SORTS:
        raise InvalidInput(f"Sort by one of: {', '.join(SORTS)}.")
    state = query.state or "current"
    if not principal.can(Permission.DOCUMENTS_READ_ALL):
        state = "current"
    terms = _terms(query.q)
    walk = state == "current" and query.sort in ("number", "title") and not terms
    if walk:
        # at most one effective revision per document (a unique index): walk the documents in the order shown and
        # pick each one's effective revision, so a page costs its 25 rows and not the whole library
        effective = (
            select(Revision.id)
            .where(Revision.document_id == Document.id, Revision.state == State.EFFECTIVE)
            .correlate(Document)
            .scalar_subquery()
        )
        ids = select(effective).select_from(Document).where(effective.is_not(None))
    else:
        ids = select(Revision.id).join(Document, Document.id == Revision.document_id)
        if state == "current":
            ids = ids.where(Revision.state == State.EFFECTIVE)
        elif state != "all":
            try:
                ids = ids.where(Revision.state == State(state))
            except ValueError:
                raise InvalidInput(f"Unknown state {state!r}.") from None
    ids = _filtered(ids, query)
    if terms:
        matched = _match_ids(session, terms).cte("matched")
        ids = ids.join(matched, Revision.id == matched.c.revision_id)
    total = session.scalars(select(func.count()).select_from(_counted(ids, walk, query).subquery())).one()
    per_page = max(1, min(query.per_page, 100))
    pages = max(1, -(-total // per_page))
    page = max(1, min(query.page, pages))
    page_ids = list(session.scalars(ids.order_by(*SORTS[query.sort]).offset((page - 1) * per_page).limit(per_page)))
    rows = session.execute(
        select(Revision.id, Revision.major, Revision.minor, Revision.state, Revision.effective_at, Document.number,
               Document.title, DocumentType.code, Document.department, Document.external, User.username)
        .join(Document, Document.id == Revision.document_id)
        .join(DocumentType, DocumentType.id == Document.type_id)
        .join(User, User.id == Document.owner_id)
        .where(Revision.id.in_(page_ids))
    ).all() if page_ids else []
    order = {rid: n for n, rid in enumerate(page_ids)}
    hits = sorted(
        (Hit(revision=HitRevision(rid, f"{major}.{minor}", state, effective_at),
             document=HitDocument(number, title, type_code, department, external), owner=owner)
         for rid, major, minor, state, effective_at, number, title, type_code, department, external, owner in rows),
        key=lambda h: order[h.revision.id],
    )
    return Results(hits, total, Query(**{**query.__dict__, "state": state, "page": page}), pages)
