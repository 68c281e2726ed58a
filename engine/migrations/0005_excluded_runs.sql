-- A run the user leaves out of the history (issue 13: a test launch against a fake endpoint must not become a
-- Pareto point or move a plan): its rollouts stay in the store, but simulation, the frontier and replay skip it.
ALTER TABLE runs ADD COLUMN excluded BOOLEAN DEFAULT false;
