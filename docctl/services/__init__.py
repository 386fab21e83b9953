"""Use cases. Each takes a session (the caller's unit of work), the principal acting and the time; it authorizes,
calls the domain, writes rows and the audit event in that same transaction, and never renders."""
