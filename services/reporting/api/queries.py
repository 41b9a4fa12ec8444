"""Strict query strings: a route answers only the parameters it declares, and an enumerated parameter only its
values; anything else is a 400 naming the parameter, never a silently wider answer.

One mechanism for every route of a router built with `route_class=StrictQueryRoute`: what a route declares (its own
and its dependencies' query parameters, found in its FastAPI dependant, so OpenAPI and the check never disagree) is
what it accepts. The filter enums come from the read model and the contracts.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, ClassVar, Literal

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from contracts.attributes import BatteryCategory
from contracts.passport_data import BatteryKind
from services.common import problems as problems_module
from services.common.problems import PROBLEM_MEDIA_TYPE, ErrorResponse
from services.reporting.domain import query
from services.reporting.domain.readmodel import STAGES, STATUSES

# The enumerated filters, built from the read model's own tuples (OpenAPI documents them as enums).
Stage = StrEnum("Stage", {stage: stage for stage in STAGES})  # type: ignore[misc]
PassportStatus = StrEnum("PassportStatus", {status: status for status in STATUSES})  # type: ignore[misc]
FILTER_ENUMS: dict[str, tuple[str, ...]] = {
    "stage": STAGES,
    "status": STATUSES,
    "category": tuple(c.value for c in BatteryCategory),
    "kind": tuple(k.value for k in BatteryKind),
}
RANGE_FILTERS = ("placed_from", "placed_to")
# Every filter name search, counts, reports and exports know (`ext.<field>` besides).
FILTER_NAMES = frozenset({*query.TEXT_FILTERS, *RANGE_FILTERS, "ceased"})


@dataclass(frozen=True)
class QueryProblem:
    """One refused part of a query: the parameter, a stable reason code, a sentence, and the values allowed."""

    field: str
    reason: str
    message: str
    allowed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "reason": self.reason, "message": self.message}
        if self.allowed:
            out["allowed"] = list(self.allowed)
        return out


class QueryRefusal(BaseModel):
    """An RFC 9457 problem document; `violations` has the platform's usual (field, reason, message) shape."""

    type: str = Field(description="`urn:bpass:problem:<reason>`.", examples=["urn:bpass:problem:invalid_filter_value"])
    title: str = Field(examples=["Bad Request"])
    status: int = Field(examples=[400])
    detail: str = Field(description="Every refused part, in sentences.")
    reason: str = Field(description="Reason code of the first refused part.", examples=["invalid_filter_value"])
    field: str | None = Field(
        default=None, description="The first refused parameter (absent when it has no name).", examples=["stage"]
    )
    allowed: list[str] | None = Field(default=None, description="Values the first refused parameter accepts.")
    violations: list[dict[str, Any]] = Field(
        description="Every refused part: `field`, `reason` (`unknown_query_parameter`, `repeated_query_parameter`, "
        "`invalid_filter_value`, `invalid_query_value`; for export filters `unknown_filter` too), `message`, and "
        "`allowed` values where they are enumerated."
    )


REFUSAL_SCHEMA = QueryRefusal.model_json_schema()
STRICT_QUERY_DOC = (
    "`unknown_query_parameter` (a parameter this operation does not declare), `repeated_query_parameter`, "
    "`invalid_filter_value` / `invalid_query_value` (not one of the enumerated values, listed in `allowed`), as "
    "application/problem+json, like every other refusal (services/common/problems.py)."
)


def problem_body(problems: Sequence[QueryProblem]) -> dict[str, Any]:
    first = problems[0]
    extensions: dict[str, Any] = {"violations": [p.as_dict() for p in problems]}
    if first.allowed:
        extensions["allowed"] = list(first.allowed)
    return problems_module.problem_body(
        400, first.reason, " ".join(p.message for p in problems), field=first.field, extensions=extensions
    )


def problem_response(problems: Sequence[QueryProblem]) -> JSONResponse:
    return JSONResponse(problem_body(problems), status_code=400, media_type=PROBLEM_MEDIA_TYPE)


def enum_values(annotation: Any) -> tuple[str, ...] | None:
    """The values an annotation enumerates (an Enum or Literal, possibly optional); None: not enumerated."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(str(member.value) for member in annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return tuple(str(v) for v in typing.get_args(annotation))
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(annotation):
            found = enum_values(arg)
            if found is not None:
                return found
    if origin is typing.Annotated:
        return enum_values(typing.get_args(annotation)[0])
    return None


@dataclass(frozen=True)
class DeclaredQuery:
    """What one route accepts in its query string."""

    names: frozenset[str]
    enums: Mapping[str, tuple[str, ...]]
    prefixes: tuple[str, ...] = ()  # families of names a dependency validates itself (`ext.<field>`)
    repeatable: frozenset[str] = frozenset()  # list-valued parameters

    @classmethod
    def of(cls, dependant: Dependant, always: Iterable[str] = ()) -> DeclaredQuery:
        names: set[str] = set(always)
        enums: dict[str, tuple[str, ...]] = {}
        prefixes: list[str] = []
        repeatable: set[str] = set()
        for node in _walk(dependant):
            prefixes.extend(getattr(node.call, "QUERY_PREFIXES", ()))
            for param in node.query_params:
                names.add(param.alias)
                if _is_sequence(param.field_info.annotation):
                    repeatable.add(param.alias)
                values = enum_values(param.field_info.annotation)
                if values is not None:
                    enums[param.alias] = values
        return cls(frozenset(names), enums, tuple(dict.fromkeys(prefixes)), frozenset(repeatable))

    def problems(self, items: Iterable[tuple[str, str]]) -> list[QueryProblem]:
        found: list[QueryProblem] = []
        seen: set[str] = set()
        unknown: list[str] = []
        for name, value in items:
            if name not in self.names and not (self.prefixes and name.startswith(self.prefixes)):
                if name not in unknown:
                    unknown.append(name)
                continue
            if name in seen and name not in self.repeatable:
                found.append(
                    QueryProblem(name, "repeated_query_parameter", f"{name} is given more than once; give it once.")
                )
                continue
            seen.add(name)
            allowed = self.enums.get(name)
            if allowed is not None and value not in allowed:
                found.append(invalid_value(name, value, allowed))
        if unknown:
            accepted = (*sorted(self.names), *(f"{prefix}<field>" for prefix in self.prefixes))
            found[:0] = [
                QueryProblem(
                    name,
                    "unknown_query_parameter",
                    f"Unknown query parameter {name!r}; this operation accepts {', '.join(accepted) or 'none'}.",
                    accepted,
                )
                for name in unknown
            ]
        return found


def invalid_value(name: str, value: object, allowed: Sequence[str]) -> QueryProblem:
    reason = "invalid_filter_value" if name in FILTER_NAMES else "invalid_query_value"
    return QueryProblem(name, reason, f"{name}={value!r} is not one of {', '.join(allowed)}.", tuple(allowed))


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return origin in (typing.Union, types.UnionType) and any(_is_sequence(a) for a in typing.get_args(annotation))


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


class StrictQueryRoute(APIRoute):
    """A route that refuses query parameters it does not declare and enumerated values outside their enum (400,
    problem+json), before any dependency runs. Subclasses choose how a refusal looks and what more is accepted."""

    always_allowed: ClassVar[frozenset[str]] = frozenset()
    blank_means_absent: ClassVar[bool] = False  # HTML forms send every field, the empty ones blank

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        responses = dict(kwargs.pop("responses", None) or {})
        described = {"model": ErrorResponse, **responses.get(400, {})}
        content = dict(described.get("content", {}))
        content[PROBLEM_MEDIA_TYPE] = {"schema": REFUSAL_SCHEMA}
        described["content"] = content
        described["description"] = STRICT_QUERY_DOC + (
            " " + described["description"] if described.get("description") else ""
        )
        responses[400] = described
        super().__init__(path, endpoint, responses=responses, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        declared = DeclaredQuery.of(self.dependant, self.always_allowed)

        async def strict(request: Request) -> Response:
            items = QueryParams(request.scope.get("query_string", b"")).multi_items()
            if self.blank_means_absent:
                kept = [(name, value) for name, value in items if value != ""]
                if len(kept) != len(items):  # before anything reads request.query_params (it is cached)
                    request.scope["query_string"] = str(QueryParams(kept)).encode("latin-1")
                items = kept
            problems = declared.problems(items)
            if problems:
                return self.refuse(request, problems)
            return await handler(request)

        return strict

    def refuse(self, request: Request, problems: Sequence[QueryProblem]) -> Response:
        return problem_response(problems)


def export_filter_problems(filters: Mapping[str, object]) -> list[QueryProblem]:
    """The filters of an export request, held to what search accepts: known names (`unknown_filter` otherwise),
    enumerated values, instants and booleans. Field names are `filters.<name>`."""
    found = []
    for name, value in filters.items():
        field = f"filters.{name}"
        if name.startswith(query.EXTENSION_PREFIX):
            if len(name) == len(query.EXTENSION_PREFIX) or len(name) > 100 + len(query.EXTENSION_PREFIX):
                found.append(QueryProblem(field, "invalid_extension_filter", "Name an extension field after ext."))
            continue
        if name not in FILTER_NAMES:
            known = sorted(FILTER_NAMES)
            found.append(
                QueryProblem(
                    field,
                    "unknown_filter",
                    f"No filter {name!r}; filter on {', '.join(known)} or ext.<field>.",
                    (*known, f"{query.EXTENSION_PREFIX}<field>"),
                )
            )
        elif name == "ceased":
            if not isinstance(value, bool):
                found.append(QueryProblem(field, "invalid_filter_value", "ceased is true or false.", ("true", "false")))
        elif isinstance(value, bool):
            found.append(QueryProblem(field, "invalid_filter_value", f"{name} is text, not {str(value).lower()}."))
        elif name in RANGE_FILTERS:
            if _instant(value) is None:
                found.append(
                    QueryProblem(field, "invalid_filter_value", f"{name} is an RFC 3339 instant with a time zone.")
                )
        elif name in FILTER_ENUMS and value not in FILTER_ENUMS[name]:
            problem = invalid_value(name, value, FILTER_ENUMS[name])
            found.append(QueryProblem(field, problem.reason, problem.message, problem.allowed))
    return found


def _instant(value: object) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
