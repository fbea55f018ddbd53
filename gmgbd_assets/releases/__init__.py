"""Releases: every build as a citable, rebuildable, updatable release (manifest, Darwin Core Archive, citation)."""
