"""Search filters, grouping and cursors of the read API, as data; and the SQL they become (no I/O here).

Every column name put into SQL comes from the whitelists below; every value is a bind parameter.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.errors import ValidationFailed, Violation

# Filter name -> column of passport_view (all text equality unless listed otherwise).
TEXT_FILTERS = {
    "model": "model",
    "product_family": "product_family",
    "chemistry": "chemistry",
    "category": "category",
    "batch": "batch",
    "plant": "plant",
    "status": "status",
    "stage": "stage",
    "current_handler": "current_handler_id",
    "kind": "kind",
}
# Columns whose equality filters also match `passport_tags(...)` (GIN-indexed, migration 004): a rare combination
# of them is found through that index, where their low cardinality makes btrees of each one poor and costly.
TAGGED_COLUMNS = ("category", "chemistry", "status", "stage", "product_family", "plant", "current_handler_id")
TAGS_EXPRESSION = f"passport_tags({', '.join(TAGGED_COLUMNS)})"
# Dimensions kept pre-aggregated in population_counts (counts over these never scan passport_view).
CUBE_DIMENSIONS = ("category", "chemistry", "model", "product_family", "plant", "status", "stage")
# group_by name -> SQL expression over passport_view.
GROUP_EXPRESSIONS = {
    **{name: column for name, column in TEXT_FILTERS.items()},
    "placed_on_market_month": "to_char(placed_on_market_at AT TIME ZONE 'UTC', 'YYYY-MM')",
    "ceased": "ceased::text",
}
EXTENSION_PREFIX = "ext."
MAX_PAGE = 500
MAX_GROUPS = 5000
SUMMARY_COLUMNS = (
    "passport_id, tenant, version, updated_at, battery_identifier, public_uri, kind, model, product_family, "
    "chemistry, category, batch, plant, status, stage, placed_on_market_at, current_handler_id, minted_at, "
    "ceased, extensions"
)


@dataclass(frozen=True)
class Filters:
    tenant: str
    equals: dict[str, str] = field(default_factory=dict)  # filter name -> value
    extensions: dict[str, str] = field(default_factory=dict)  # extension key -> value
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    ceased: bool | None = None

    @property
    def cube_only(self) -> bool:
        return (
            set(self.equals) <= set(CUBE_DIMENSIONS)
            and not self.extensions
            and self.placed_from is None
            and self.placed_to is None
            and self.ceased is None
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.equals)
        out.update({f"{EXTENSION_PREFIX}{k}": v for k, v in self.extensions.items()})
        if self.placed_from:
            out["placed_from"] = self.placed_from.isoformat()
        if self.placed_to:
            out["placed_to"] = self.placed_to.isoformat()
        if self.ceased is not None:
            out["ceased"] = self.ceased
        return out


def parse_extension_filters(query: dict[str, str]) -> dict[str, str]:
    """`ext.<key>=<value>` query parameters -> {key: value}."""
    found = {}
    for name, value in query.items():
        if name.startswith(EXTENSION_PREFIX):
            key = name[len(EXTENSION_PREFIX) :]
            if not key or len(key) > 100:
                raise ValidationFailed(
                    [Violation(field=name, reason="invalid_extension_filter", message="Name an extension field.")]
                )
            found[key] = value
    return found


def where(filters: Filters, first_param: int = 1) -> tuple[str, list[Any]]:
    """WHERE clause over passport_view (without the keyword) and its parameters."""
    clauses = [f"tenant = ${first_param}"]
    params: list[Any] = [filters.tenant]

    def bind(value: Any) -> str:
        params.append(value)
        return f"${first_param + len(params) - 1}"

    tags = []
    for name, value in sorted(filters.equals.items()):
        clauses.append(f"{TEXT_FILTERS[name]} = {bind(value)}")
        if TEXT_FILTERS[name] in TAGGED_COLUMNS and value:
            tags.append(f"{TEXT_FILTERS[name]}={value}")
    if tags:
        clauses.append(f"{TAGS_EXPRESSION} @> {bind(tags)}::text[]")
    if filters.extensions:
        clauses.append(f"extensions @> {bind(dict(filters.extensions))}::jsonb")
    if filters.placed_from is not None:
        clauses.append(f"placed_on_market_at >= {bind(filters.placed_from)}")
    if filters.placed_to is not None:
        clauses.append(f"placed_on_market_at < {bind(filters.placed_to)}")
    if filters.ceased is not None:
        clauses.append(f"ceased = {bind(filters.ceased)}")
    return " AND ".join(clauses), params


def search_sql(filters: Filters, after: str | None, limit: int) -> tuple[str, list[Any]]:
    clause, params = where(filters)
    if after is not None:
        params.append(after)
        clause += f" AND passport_id > ${len(params)}"
    params.append(limit + 1)
    sql = f"SELECT {SUMMARY_COLUMNS} FROM passport_view WHERE {clause} ORDER BY passport_id LIMIT ${len(params)}"
    return sql, params


def validate_group_by(group_by: list[str]) -> list[str]:
    violations = []
    for name in group_by:
        if name not in GROUP_EXPRESSIONS and not (name.startswith(EXTENSION_PREFIX) and len(name) > 4):
            violations.append(
                Violation(
                    field="group_by",
                    reason="unknown_dimension",
                    message=f"Cannot group by {name!r}; use one of {', '.join(sorted(GROUP_EXPRESSIONS))} "
                    f"or {EXTENSION_PREFIX}<extension field>.",
                )
            )
    if not group_by:
        violations.append(Violation(field="group_by", reason="missing", message="Name at least one dimension."))
    if len(group_by) > 4:
        violations.append(Violation(field="group_by", reason="too_many", message="Group by at most 4 dimensions."))
    if violations:
        raise ValidationFailed(violations)
    return group_by


def count_sql(filters: Filters, group_by: list[str]) -> tuple[str, list[Any], bool]:
    """SQL of a grouped count; True when it reads the pre-aggregated counters."""
    if filters.cube_only and set(group_by) <= set(CUBE_DIMENSIONS):
        clauses = ["tenant = $1"]
        params: list[Any] = [filters.tenant]
        for name, value in sorted(filters.equals.items()):
            params.append(value)
            clauses.append(f"{name} = ${len(params)}")
        columns = ", ".join(f"nullif({g}, '') AS \"{g}\"" for g in group_by)
        groups = ", ".join(str(i + 1) for i in range(len(group_by)))
        sql = (
            f"SELECT {columns}, sum(n)::bigint AS count FROM population_counts WHERE {' AND '.join(clauses)} "
            f"GROUP BY {groups} HAVING sum(n) > 0 ORDER BY count DESC, {groups} LIMIT {MAX_GROUPS}"
        )
        return sql, params, True
    clause, params = where(filters)
    expressions = []
    for name in group_by:
        if name.startswith(EXTENSION_PREFIX):
            params.append(name[len(EXTENSION_PREFIX) :])
            expressions.append(f"extensions ->> ${len(params)}")
        else:
            expressions.append(GROUP_EXPRESSIONS[name])
    columns = ", ".join(f'{expr} AS "{name}"' for expr, name in zip(expressions, group_by, strict=True))
    groups = ", ".join(str(i + 1) for i in range(len(group_by)))
    sql = (
        f"SELECT {columns}, count(*) AS count FROM passport_view WHERE {clause} "
        f"GROUP BY {groups} ORDER BY count DESC, {groups} LIMIT {MAX_GROUPS}"
    )
    return sql, params, False


def encode_cursor(passport_id: str) -> str:
    return base64.urlsafe_b64encode(passport_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    invalid = ValidationFailed(
        [Violation(field="cursor", reason="invalid_cursor", message="Pass the next_cursor of a previous page.")]
    )
    try:
        decoded = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    if not decoded.startswith("urn:uuid:"):
        raise invalid
    return decoded


# Sort name -> column of passport_view, for the dashboard's sortable, paged passport list.
SORT_COLUMNS = {
    "battery": "battery_identifier",
    "model": "model",
    "chemistry": "chemistry",
    "category": "category",
    "batch": "batch",
    "plant": "plant",
    "status": "status",
    "stage": "stage",
    "placed_on_market": "placed_on_market_at",
    "held_by": "current_handler_id",
    "minted": "minted_at",
}
# Sort name -> output column of batches_sql.
BATCH_SORT_COLUMNS = {
    "batch": "batch",
    "model": "model",
    "chemistry": "chemistry",
    "passports": "passports",
    "end_of_life": "end_of_life",
    "first_minted": "first_minted",
}
# Dimensions whose distinct values the dashboard offers as filter choices (name -> column of passport_view).
OPTION_COLUMNS = {
    name: TEXT_FILTERS[name] for name in ("model", "chemistry", "category", "stage", "status", "plant", "batch")
}


def _order(column: str, descending: bool, tie: str) -> str:
    return f"{column} {'DESC' if descending else 'ASC'} NULLS LAST, {tie}"


def page_sql(filters: Filters, sort: str, descending: bool, offset: int, limit: int) -> tuple[str, list[Any]]:
    """One page of the matching passports in `sort` order (a SORT_COLUMNS name), ties broken by passport id."""
    clause, params = where(filters)
    params += [limit, offset]
    order = _order(SORT_COLUMNS[sort], descending, "passport_id")
    sql = (
        f"SELECT {SUMMARY_COLUMNS} FROM passport_view WHERE {clause} ORDER BY {order}"
        f" LIMIT ${len(params) - 1} OFFSET ${len(params)}"
    )
    return sql, params


def total_sql(filters: Filters) -> tuple[str, list[Any]]:
    clause, params = where(filters)
    return f"SELECT count(*) FROM passport_view WHERE {clause}", params


def batches_sql(filters: Filters, sort: str, descending: bool, offset: int, limit: int) -> tuple[str, list[Any]]:
    """One page of the batches of the matching passports (batch, model, chemistry, passports, end of life, first
    minted), each row with `total_rows`: how many batches match in all."""
    clause, params = where(filters)
    params += [limit, offset]
    order = _order(BATCH_SORT_COLUMNS[sort], descending, "batch, model, chemistry")
    sql = (
        "SELECT batch, model, chemistry, count(*) AS passports,"
        " count(*) FILTER (WHERE stage IN ('collected', 'in_treatment', 'recycled')) AS end_of_life,"
        " min(minted_at) AS first_minted, count(*) OVER () AS total_rows"
        f" FROM passport_view WHERE {clause} AND batch IS NOT NULL GROUP BY batch, model, chemistry"
        f" ORDER BY {order} LIMIT ${len(params) - 1} OFFSET ${len(params)}"
    )
    return sql, params


def batches_total_sql(filters: Filters) -> tuple[str, list[Any]]:
    clause, params = where(filters)
    sql = (
        "SELECT count(*) FROM (SELECT 1 FROM passport_view"
        f" WHERE {clause} AND batch IS NOT NULL GROUP BY batch, model, chemistry) AS batches"
    )
    return sql, params


def options_sql(name: str) -> str:
    """The distinct values of one OPTION_COLUMNS dimension for a tenant ($1), in order: from the pre-aggregated
    counters where they hold it, else from passport_view (batch: indexed by tenant and batch)."""
    column = OPTION_COLUMNS[name]
    if column in CUBE_DIMENSIONS:
        return (
            f"SELECT nullif({column}, '') AS value FROM population_counts WHERE tenant = $1"
            f" GROUP BY 1 HAVING sum(n) > 0 AND nullif({column}, '') IS NOT NULL ORDER BY 1 LIMIT {MAX_GROUPS}"
        )
    return (
        f"SELECT DISTINCT {column} AS value FROM passport_view WHERE tenant = $1 AND {column} IS NOT NULL"
        f" ORDER BY 1 LIMIT {MAX_GROUPS}"
    )


# Extension fields offered as filters: the text keys and values of the tenant's first passports (a sample: extension
# fields are free-form, and reading them all would scan every passport; a value outside it still filters).
EXTENSION_SAMPLE = 5000
EXTENSION_OPTIONS_SQL = (
    "SELECT e.key, e.value #>> '{}' AS value FROM (SELECT extensions FROM passport_view WHERE tenant = $1"
    f" ORDER BY passport_id LIMIT {EXTENSION_SAMPLE}) p, jsonb_each(p.extensions) e"
    " WHERE jsonb_typeof(e.value) = 'string' GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 2000"
)


def choices_sql(with_extensions: bool) -> str:
    """Every filter choice of a tenant ($1) in one round trip: rows (name, value), name an OPTION_COLUMNS dimension,
    `placed_month` (YYYY-MM), `ext.<key>` (sampled extension values), or `#sampled` (how many passports the sample
    read, up to EXTENSION_SAMPLE + 1: more than EXTENSION_SAMPLE means the sample is not all of them)."""
    parts = [
        f"(SELECT '{name}' AS name, value FROM ({options_sql(name)}) AS o{i})" for i, name in enumerate(OPTION_COLUMNS)
    ]
    parts.append(
        "(SELECT DISTINCT 'placed_month' AS name, to_char(placed_on_market_at AT TIME ZONE 'UTC', 'YYYY-MM') AS value"
        " FROM passport_view WHERE tenant = $1 AND placed_on_market_at IS NOT NULL)"
    )
    if with_extensions:
        parts.append(f"(SELECT 'ext.' || key AS name, value FROM ({EXTENSION_OPTIONS_SQL}) AS e)")
        parts.append(
            "(SELECT '#sampled' AS name, count(*)::text AS value FROM (SELECT 1 FROM passport_view WHERE tenant = $1"
            f" LIMIT {EXTENSION_SAMPLE + 1}) AS s)"
        )
    return " UNION ALL ".join(parts)
