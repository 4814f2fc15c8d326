"""`field__any=[…]`: membership in a list as `field = ANY(%s)` with the list as one array parameter on
PostgreSQL. Django's `__in` writes one placeholder per value, which Django builds and psycopg then finds
and converts one by one: for the hundreds of keys a pipeline batch asks about, that cost more than the
query itself (3,000 keys: 68 ms through `__in`, 36 ms through `__any`). SQLite gets `IN (…)`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        return list(self.rhs)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = self.rhs
        if not values:
            raise EmptyResultSet
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", (*lhs_params, values)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", (*lhs_params, *values)


def register() -> None:
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(AnyOf)
