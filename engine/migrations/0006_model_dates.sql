-- When a model came out (issue 14: the `newest` split holds out the newest models, the common case of planning
-- for a new model with older ones' history). Filled from an optional `release_date` column of the table format.
CREATE TABLE models (
    model        VARCHAR PRIMARY KEY,  -- the model as rollouts name it
    release_date DATE NOT NULL
);
