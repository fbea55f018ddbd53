"""How a table says why a value is missing: the columns every enrichment shares and the codes more than one feature
stores.

A value that does not exist is NULL with a reason code in ``missing_reason`` and a sentence in ``missing_detail``;
each feature declares its own codes in its table's contract. ``not_yet_available`` is shared: the source has not
published the value for that date yet, so the row is early, not wrong, and the re-fill sensor asks for it again.
A value taken from an older source while a better one is unpublished is marked in a ``*_provisional`` column.
"""

REASON_COLUMN = "missing_reason"
DETAIL_COLUMN = "missing_detail"
NOT_YET_AVAILABLE = "not_yet_available"
PROVISIONAL_SUFFIX = "_provisional"
