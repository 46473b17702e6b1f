"""Prefect flows: orchestration only (sequence, branch, wait)."""
