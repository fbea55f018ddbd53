"""The platform every feature stands on: settings, the table contract and both stores, HTTP with retries and rate
limits, partitions, the per-date enrichment helper, the generic checks, reason codes, provenance, licences and
Markdown.
"""
