"""Video consultations: one call room per video appointment, its waiting room, signaling over the
real-time gateway, TURN credentials and the record of each call (docs/calls.md)."""
