-- Strata's own bookkeeping on D1. Application tables come in later migrations.
CREATE TABLE IF NOT EXISTS strata_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT OR IGNORE INTO strata_meta (key, value) VALUES ('schema', 'd1');
