-- The cap belongs to the plan, across every run of it (issue 10): runs know their plan, an attempt whose
-- outcome is unknown is charged its worst case ('worst-case'), and what such attempts cost when no rollout
-- was recorded for them is kept in `charges`, so a rerun counts it.
ALTER TABLE runs ADD COLUMN plan_id VARCHAR;

CREATE TABLE rollouts_v2 (
    run_id              VARCHAR NOT NULL,
    benchmark           VARCHAR NOT NULL,
    item_id             VARCHAR NOT NULL,
    model               VARCHAR NOT NULL,
    scaffold            VARCHAR NOT NULL DEFAULT '',
    "repeat"            INTEGER NOT NULL DEFAULT 0,
    score               DOUBLE CHECK (score BETWEEN 0 AND 1),
    status              VARCHAR NOT NULL CHECK (status IN ('ok', 'error', 'limit')),
    input_tokens        BIGINT CHECK (input_tokens >= 0),
    cached_input_tokens BIGINT CHECK (cached_input_tokens >= 0),
    output_tokens       BIGINT CHECK (output_tokens >= 0),
    reasoning_tokens    BIGINT CHECK (reasoning_tokens >= 0),
    cost_usd            DOUBLE CHECK (cost_usd >= 0 AND isfinite(cost_usd)),
    cost_source         VARCHAR NOT NULL CHECK (cost_source IN ('recorded', 'priced', 'worst-case', 'unknown')),
    latency_s           DOUBLE,
    gpu_seconds         DOUBLE CHECK (gpu_seconds >= 0 AND isfinite(gpu_seconds)),
    gpu_type            VARCHAR,
    api_calls           INTEGER,
    started_at          TIMESTAMP
);
-- a NaN or negative amount an older version let in is unknown, never a number
INSERT INTO rollouts_v2 (
    run_id, benchmark, item_id, model, scaffold, "repeat", score, status, input_tokens, cached_input_tokens,
    output_tokens, reasoning_tokens, cost_usd, cost_source, latency_s, gpu_seconds, gpu_type, api_calls,
    started_at
)
SELECT run_id, benchmark, item_id, model, scaffold, "repeat", score, status,
       CASE WHEN input_tokens >= 0 THEN input_tokens END,
       CASE WHEN cached_input_tokens >= 0 THEN cached_input_tokens END,
       CASE WHEN output_tokens >= 0 THEN output_tokens END,
       CASE WHEN reasoning_tokens >= 0 THEN reasoning_tokens END,
       CASE WHEN cost_usd >= 0 AND isfinite(cost_usd) THEN cost_usd END,
       CASE WHEN cost_usd >= 0 AND isfinite(cost_usd) THEN cost_source ELSE 'unknown' END,
       latency_s,
       CASE WHEN gpu_seconds >= 0 AND isfinite(gpu_seconds) THEN gpu_seconds END,
       gpu_type, api_calls, started_at
FROM rollouts;
DROP TABLE rollouts;
ALTER TABLE rollouts_v2 RENAME TO rollouts;

CREATE TABLE charges (
    run_id     VARCHAR NOT NULL,
    benchmark  VARCHAR NOT NULL,
    item_id    VARCHAR NOT NULL,
    model      VARCHAR NOT NULL,
    scaffold   VARCHAR NOT NULL DEFAULT '',
    "repeat"   INTEGER NOT NULL DEFAULT 0,
    cost_usd   DOUBLE NOT NULL CHECK (cost_usd >= 0 AND isfinite(cost_usd)),
    reason     VARCHAR NOT NULL,
    charged_at TIMESTAMP NOT NULL
);
