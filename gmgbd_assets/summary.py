"""Prints what a run left behind: where the DuckDB file is and how many rows each table holds per date.

    GMGBD_PROFILE=offline .venv/bin/python -m gmgbd_assets.summary
"""

from __future__ import annotations

import duckdb

from gmgbd_assets.core.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    path = settings.duckdb_path.resolve()
    if not path.exists():
        print(f"No database yet at {path}; run `make demo` first.")
        return
    con = duckdb.connect(str(path), read_only=True)
    tables = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    print(f"\nResults are in {path}")
    for table in tables:
        columns = {row[0] for row in con.execute(f'DESCRIBE "{table}"').fetchall()}
        if "sighting_date" not in columns:
            continue
        by_day = con.execute(
            f'SELECT sighting_date, count(*) FROM "{table}" GROUP BY 1 ORDER BY 1'
        ).fetchall()
        days = ", ".join(f"{d:%m-%d}:{n}" for d, n in by_day) or "no rows"
        print(f"  {table:<18} {sum(n for _, n in by_day):>6} rows  ({days})")
    print(f"Images are under {(settings.data_dir / 'images').resolve()}")
    if (settings.exports_dir / "DATASET_CARD.md").exists():
        print(f"Exports and the dataset card are under {settings.exports_dir.resolve()}")
    print("Open the UI with `make dev` to see runs, partitions and check results.")
    con.close()


if __name__ == "__main__":
    main()
