"""The table contract every asset declares: its columns, their meaning, unit and valid values, and its key.

The stores create and extend tables from it, the asset checks test rows against it, and the dataset card,
Croissant and ``docs/tables.md`` describe the columns from it, so a column means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg
import polars as pl

# Every observation table is keyed by the observation's UUID: the one identity the API (``uuid``) and the
# open-data export (which has no integer id) share. ``observation_id`` is an attribute, NULL from the export.
KEY = "observation_uuid"
OBSERVATION_KEY = "iNaturalist observation UUID (the API's uuid, the open-data export's observation_uuid): the key"


@dataclass(frozen=True)
class Column:
    """One column's contract: storage type, meaning, unit, and what a valid value is.

    ``required``: a complete row has a value here (else its reason column says why not). ``valid_range``
    (inclusive) and ``categories`` bound the stored values; ``free_text`` columns are checked for placeholder
    strings. The asset checks, the dataset card and ``docs/tables.md`` all read these.
    """

    name: str
    sql_type: str
    description: str
    nullable: bool = True
    unit: str = ""
    required: bool = False
    valid_range: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()
    free_text: bool = False


@dataclass(frozen=True)
class TableSpec:
    """The declared shape and contract of one asset's table. Every table carries ``sighting_date DATE``.

    ``reason_column``/``detail_column`` say why a required value is missing, with one of ``reason_codes`` (a
    table also carries its upstream's codes through). ``zero_needs_source`` pairs a value column with the
    provenance column that must be set for a 0 to count (the reference dataset stored 0 for "unknown").
    ``parity_with_raw``: the table has exactly one row per raw observation.
    """

    name: str
    columns: tuple[Column, ...]
    reason_column: str | None = "missing_reason"
    detail_column: str | None = "missing_detail"
    reason_codes: tuple[str, ...] = ()
    zero_needs_source: tuple[tuple[str, str], ...] = ()
    parity_with_raw: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        return {c.name: c.valid_range for c in self.columns if c.valid_range is not None}

    @property
    def categories(self) -> dict[str, tuple[str, ...]]:
        return {c.name: c.categories for c in self.columns if c.categories}

    @property
    def text_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.free_text)

    def ddl(self, column_type: Callable[[str], str] = str) -> str:
        """``CREATE TABLE IF NOT EXISTS``; ``column_type`` maps a declared type to the store's own (DuckLake keeps
        a fixed-size list as a list)."""
        cols = ",\n  ".join(
            f'"{c.name}" {column_type(c.sql_type)}{"" if c.nullable else " NOT NULL"}' for c in self.columns
        )
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  {cols}\n)'

    def dagster_schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=c.name,
                    type=c.sql_type,
                    description=c.description,
                    constraints=dg.TableColumnConstraints(nullable=c.nullable),
                )
                for c in self.columns
            ]
        )

    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: polars_type(c.sql_type) for c in self.columns}

    def frame(self, rows: Sequence[dict] | Sequence[tuple]) -> pl.DataFrame:
        """Build a frame with exactly this table's columns and types (an empty frame keeps them too)."""
        if rows and isinstance(rows[0], tuple):
            return pl.DataFrame(rows, schema=self.polars_schema(), orient="row")
        return pl.DataFrame(list(rows), schema=self.polars_schema())


def float_array(size: int) -> str:
    """The SQL type of a fixed-size list of ``size`` 32-bit floats (an embedding vector): ``FLOAT[size]``."""
    return f"FLOAT[{size}]"


def array_size(sql_type: str) -> int | None:
    """The element count of a fixed-size list type (``FLOAT[64]``: 64), None for any other type."""
    if sql_type.endswith("]") and "[" in sql_type:
        return int(sql_type[sql_type.index("[") + 1 : -1])
    return None


def polars_type(sql_type: str) -> pl.DataType:
    """The polars type a column of ``sql_type`` is read and written as (``FLOAT[n]``: a polars ``Array``)."""
    size = array_size(sql_type)
    if size is not None:
        return pl.Array(_POLARS_TYPES[sql_type[: sql_type.index("[")].upper()], size)
    return _POLARS_TYPES[sql_type.split("(")[0].upper()]


_POLARS_TYPES: dict[str, pl.DataType] = {
    "BIGINT": pl.Int64(),
    "INTEGER": pl.Int32(),
    "DOUBLE": pl.Float64(),
    "FLOAT": pl.Float32(),
    "VARCHAR": pl.String(),
    "BOOLEAN": pl.Boolean(),
    "DATE": pl.Date(),
    "TIMESTAMP": pl.Datetime("us"),
}
