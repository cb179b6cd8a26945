"""Notifications: one durable outbox for in-app, email, SMS and web push."""
