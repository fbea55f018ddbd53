"""How provenance columns label values: the live source's own label, or that label marked as emulated.

Demo data must never pass for real data: every value an emulator (a service or the offline caption model) made carries
``emulated:<the live source's label>`` in its table's provenance column, spelled this one way.
"""

EMULATED_PREFIX = "emulated:"


def emulated(label: str) -> str:
    return f"{EMULATED_PREFIX}{label}"


def is_emulated(label: str | None) -> bool:
    return bool(label) and label.startswith(EMULATED_PREFIX)
