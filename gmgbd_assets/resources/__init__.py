"""Small resources, one per external service or store; each sets its own retries and limits."""
