"""The web app for people: server-rendered pages, htmx and small ES modules."""
