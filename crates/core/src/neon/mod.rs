//! Neon's SQL-over-HTTP protocol (see `shared/reference/neon-sql-over-http.md`).
