"""Prometheus metrics of the AI service: diagnoses and repairs."""

from prometheus_client import Counter

DIAGNOSES = Counter(
    "hfd_ai_diagnoses_total",
    "Incident diagnoses stored, by diagnoser and what triggered them.",
    ["diagnoser", "trigger"],
)
REPAIRS = Counter("hfd_ai_repairs_total", "Repair actions finished, by action and status.", ["action", "status"])
