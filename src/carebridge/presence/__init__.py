"""Presence: doctors online, busy or offline, live to every patient; following a doctor."""
