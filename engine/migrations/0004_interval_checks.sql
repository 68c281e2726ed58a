-- How a strategy's 90% score intervals held when checked on a benchmark's past data (issue 12,
-- `evalbudget results --coverage B`): `evalbudget results` shows no intervals for a strategy whose last check
-- on the plan's benchmark missed the 85-95% target, and says so.
CREATE TABLE interval_checks (
    benchmark   VARCHAR NOT NULL,
    strategy    VARCHAR NOT NULL,
    budget      VARCHAR NOT NULL,
    splits      INTEGER NOT NULL CHECK (splits > 0),
    coverage    DOUBLE NOT NULL CHECK (coverage BETWEEN 0 AND 1),
    width       DOUBLE,
    tau_inside  DOUBLE,
    checked_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (benchmark, strategy)
);
