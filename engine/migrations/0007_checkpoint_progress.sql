-- Where a series' training ends and how many tokens a checkpoint has seen (issue 15): a checkpoint's training
-- progress is step / final_step. Both are optional: lm-eval results name only the step, and progress then
-- falls back to step / the series' last step in the store. (DuckDB adds no column with a CHECK, so the table
-- is made again.)
CREATE TABLE checkpoints_v2 (
    model       VARCHAR PRIMARY KEY,
    series      VARCHAR NOT NULL,
    step        BIGINT NOT NULL CHECK (step >= 0),
    final_step  BIGINT CHECK (final_step > 0),
    tokens_seen BIGINT CHECK (tokens_seen >= 0)
);
INSERT INTO checkpoints_v2 (model, series, step) SELECT model, series, step FROM checkpoints;
DROP TABLE checkpoints;
ALTER TABLE checkpoints_v2 RENAME TO checkpoints;
