"""Home visits: nurses dispatched to patients' homes, tracked live, with encrypted reports that a
doctor signs off (docs/visits.md)."""
