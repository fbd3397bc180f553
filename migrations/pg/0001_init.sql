-- Strata's own bookkeeping on Postgres. Application tables come in later migrations.
CREATE TABLE IF NOT EXISTS strata_meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);
INSERT INTO strata_meta (key, value) VALUES ('schema', 'pg') ON CONFLICT DO NOTHING;
