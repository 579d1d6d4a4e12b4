"""The operator dashboard: server-rendered pages behind staff logins, scoped by role."""
