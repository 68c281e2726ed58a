-- A model can be a checkpoint of a training run (issue 11, for the checkpoint series of issue 15): the series
-- it belongs to and its step, as the results file names them (lm-eval's `revision=step1000`).
CREATE TABLE checkpoints (
    model   VARCHAR PRIMARY KEY,   -- the model as rollouts and runs name it, e.g. EleutherAI/pythia-160m@step1000
    series  VARCHAR NOT NULL,      -- the training run, e.g. EleutherAI/pythia-160m
    step    BIGINT NOT NULL CHECK (step >= 0)
);

-- A worst-case charge names the journalled attempt it settles (engine/launch/journal.py), so a launch killed
-- after the charge was committed but before its journal said so is not charged twice.
ALTER TABLE charges ADD COLUMN attempt VARCHAR;
