-- The store's first schema: runs, items and one row per rollout (see DESIGN.md, Data model).
CREATE TABLE runs (
    run_id          VARCHAR PRIMARY KEY,
    source          VARCHAR NOT NULL,          -- where it came from: a name the user gave, or the file
    harness         VARCHAR NOT NULL,          -- table, inspect, lm-eval, helm, eee, hal, aider, launch
    source_path     VARCHAR,                   -- the file as given on the command line
    content_sha256  VARCHAR UNIQUE,            -- makes ingest idempotent: the same bytes are never added twice
    imported_at     TIMESTAMP NOT NULL,
    price_version   VARCHAR,
    -- aggregate-only runs (sources that publish no per-item rows, e.g. Aider) fill these
    aggregate_only  BOOLEAN NOT NULL DEFAULT false,
    benchmark       VARCHAR,
    model           VARCHAR,
    scaffold        VARCHAR,
    n_items         INTEGER,
    accuracy        DOUBLE,
    total_cost_usd  DOUBLE,
    seconds_per_item DOUBLE,
    started_at      TIMESTAMP
);

CREATE TABLE items (
    benchmark   VARCHAR NOT NULL,
    item_id     VARCHAR NOT NULL,
    stratum     VARCHAR,
    input       VARCHAR,                       -- prompt: a string or a JSON list of chat messages
    target      VARCHAR,
    scorer      VARCHAR,                       -- exact, includes, choice, numeric
    choices     VARCHAR,                       -- JSON list
    max_tokens  INTEGER,
    PRIMARY KEY (benchmark, item_id)
);

CREATE TABLE rollouts (
    run_id              VARCHAR NOT NULL,
    benchmark           VARCHAR NOT NULL,
    item_id             VARCHAR NOT NULL,
    model               VARCHAR NOT NULL,
    scaffold            VARCHAR NOT NULL DEFAULT '',
    "repeat"            INTEGER NOT NULL DEFAULT 0,
    score               DOUBLE CHECK (score BETWEEN 0 AND 1),
    status              VARCHAR NOT NULL CHECK (status IN ('ok', 'error', 'limit')),
    input_tokens        BIGINT,
    cached_input_tokens BIGINT,
    output_tokens       BIGINT,
    reasoning_tokens    BIGINT,
    cost_usd            DOUBLE,
    cost_source         VARCHAR NOT NULL CHECK (cost_source IN ('recorded', 'priced', 'unknown')),
    latency_s           DOUBLE,
    gpu_seconds         DOUBLE,
    gpu_type            VARCHAR,
    api_calls           INTEGER,
    started_at          TIMESTAMP
);
