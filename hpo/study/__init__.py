"""The record of a study: where it is stored (SQLite, PostgreSQL, journal file), what hpo
writes into each trial beside Optuna's own fields, the spec versions a study has seen,
and how a name or a spec file is turned into the stored study."""
