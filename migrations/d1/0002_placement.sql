-- Run-time placement of REST tables (docs/graduation.md): a row overrides
-- REST_TABLES for its table. Written by PUT /v1/admin/placement/{table}.
CREATE TABLE IF NOT EXISTS strata_placement (
  table_name TEXT PRIMARY KEY,
  store      TEXT NOT NULL CHECK (store IN ('d1', 'pg')),
  state      TEXT NOT NULL CHECK (state IN ('ready', 'moving')),
  since      TEXT NOT NULL,
  source     TEXT CHECK (source IN ('d1', 'pg')),
  target     TEXT CHECK (target IN ('d1', 'pg')),
  updated_at TEXT NOT NULL
);
