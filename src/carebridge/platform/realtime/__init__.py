"""The real-time gateway: one WebSocket endpoint, topics, and a broker that fans events out to
every process (memory in one process, Redis pub/sub across many). Domains register which topics
a caller may read; the gateway itself knows no domain."""
