"""The dataset card's four plots: a world map of the records, NDVI and temperature distributions, and
observations per sighting date (complete and left out).
"""

from pathlib import Path

import polars as pl

from gmgbd_assets.earth_engine.modis_ndvi import NDVI_CLASSES, NDVI_FLOOR_CLASS, NDVI_RANGE
from gmgbd_assets.evaluation.card_section import ACCURACY_PLOT, accuracy_figure
from gmgbd_assets.exports.card_data import CardData
from gmgbd_assets.geocodes.offline_geocoder import places

# Lower bound of each NDVI category, as the ndvi asset assigns them.
NDVI_THRESHOLDS = ((NDVI_RANGE[0], NDVI_FLOOR_CLASS), *sorted(NDVI_CLASSES))


def _cities() -> pl.DataFrame:
    """The geocoder's GeoNames populated places, drawn faintly to outline the continents."""
    index = places()
    return pl.DataFrame({"lat": index.lat, "lon": index.lon})


def write_plots(data: CardData, folder: Path) -> list[Path]:
    """The card's PNGs: four, and the context-lift accuracy plot once the evaluation ran (matplotlib's object API
    with the Agg canvas: no display, no global state)."""
    from matplotlib.figure import Figure

    written = []

    def save(fig: Figure, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110, metadata={"Software": None})
        written.append(folder / name)

    fig = Figure(figsize=(10, 5.2))
    ax = fig.add_subplot()
    cities = _cities()
    ax.scatter(cities["lon"], cities["lat"], s=0.05, c="0.75", linewidths=0, rasterized=True)
    ax.scatter(
        data.points["longitude"],
        data.points["latitude"],
        s=14,
        c="#d62728",
        edgecolors="black",
        linewidths=0.3,
        label=f"{data.points.height} observations",
    )
    ax.set(xlim=(-180, 180), ylim=(-90, 90), xlabel="longitude (°)", ylabel="latitude (°)", aspect="equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    save(fig, "map.png")

    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    ax.hist(data.points["NDVI_value"], bins=30, range=NDVI_RANGE, color="#2ca02c")
    for threshold, name in NDVI_THRESHOLDS:
        if threshold > NDVI_RANGE[0]:
            ax.axvline(threshold, color="black", linestyle="--", linewidth=0.8)
        ax.text(threshold + 0.01, 0.95, name, transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set(xlabel="NDVI", ylabel="records")
    save(fig, "ndvi.png")

    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    ax.hist(data.points["avg_temp_C"], bins=30, color="#ff7f0e")
    ax.set(xlabel="mean 2 m temperature of the day (°C)", ylabel="records")
    save(fig, "temperature.png")

    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    dates = data.per_date["sighting_date"].to_list()
    ax.bar(dates, data.per_date["complete"], color="#1f77b4", label="complete")
    ax.bar(dates, data.per_date["quarantined"], bottom=data.per_date["complete"], color="#bbbbbb", label="left out")
    ax.set(ylabel="observations")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.autofmt_xdate()
    save(fig, "per_date.png")

    if (fig := accuracy_figure(data.context_lift)) is not None:
        save(fig, ACCURACY_PLOT)
    return written
