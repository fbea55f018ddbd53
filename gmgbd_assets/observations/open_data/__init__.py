"""iNaturalist's open-data export as a source of research-grade observations, read with DuckDB, never into Python.

iNaturalist publishes a monthly snapshot of every observation that has at least one openly licensed photo
(AWS open-data bucket ``inaturalist-open-data``): four tab-separated files, ``observations``, ``photos``,
``taxa`` and ``observers``, either as ``.csv.gz`` at the bucket root or uncompressed inside
``metadata/inaturalist-open-data-YYYYMMDD.tar.gz``. The files are unquoted and unescaped (a ``"`` inside a name
is just a character), an empty field means NULL, and columns have been added and renamed between snapshots, so
every file is read by header name.

The pipeline, one module per step:

1. ``files.locate_export`` finds the four files (or the bundle) and the snapshot date.
2. ``staging.stage_snapshot`` reads them once with DuckDB, joins each research-grade observation to its first
   photo (lowest ``position``), its observer and its taxon, and writes Parquet in one folder per sighting month
   (``staged``: the files, their codes and ``SnapshotInfo``, the account of every line). Each staging is a new
   version folder, published by switching the ``CURRENT`` pointer atomically, so a reader always reads one
   complete version (``versions``: the pointer, the readers' leases, pruning).
3. ``reader.observations_on`` returns one date's records as ``observation.Observation``, the record the API
   source builds too, with names and logins joined in from the staged taxa and observers and each record's
   outside text checked by ``edge_validation`` exactly as the API's. ``taxa.ExportTaxa`` gives the staged
   taxa's lineages to the ``taxonomy`` asset.

The SQL each step runs lives in ``sql/``, one statement per file (``queries``), with every outside value a
parameter.

What the export cannot say, and the records therefore leave NULL: the integer observation id
(``observation_id``), whether the coordinates were obscured (``coordinates_obscured``; the export only carries
the public, possibly obscured, position) and, without ``GMGBD_TAXONOMY_ARCHIVE``, the English common name.
"""
