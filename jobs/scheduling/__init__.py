"""The scheduler: governor (planning), claims (SQL), dispatch (HTTP), worker (the loop)."""
