"""In-process emulators of the external services, for the offline profile, tests and benchmarks.

They speak the real services' HTTP shapes through an ``httpx.MockTransport``, so the live client code runs
unchanged. Everything they serve is demo data and is labelled as emulated downstream.
"""
