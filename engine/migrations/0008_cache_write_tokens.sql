-- Input tokens written to a provider's prompt cache (Inspect's and Every Eval Ever's input_tokens_cache_write):
-- billed apart from other input, at the cache-write price (Anthropic's is 1.25x its input price), so a rollout
-- that wrote a cache is priced with them. (DuckDB adds no column with a CHECK, so the table is made again.)
CREATE TABLE rollouts_v3 (
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
    cache_write_tokens  BIGINT CHECK (cache_write_tokens >= 0),
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
INSERT INTO rollouts_v3 (
    run_id, benchmark, item_id, model, scaffold, "repeat", score, status, input_tokens, cached_input_tokens,
    output_tokens, reasoning_tokens, cost_usd, cost_source, latency_s, gpu_seconds, gpu_type, api_calls,
    started_at
)
SELECT run_id, benchmark, item_id, model, scaffold, "repeat", score, status, input_tokens, cached_input_tokens,
       output_tokens, reasoning_tokens, cost_usd, cost_source, latency_s, gpu_seconds, gpu_type, api_calls,
       started_at
FROM rollouts;
DROP TABLE rollouts;
ALTER TABLE rollouts_v3 RENAME TO rollouts;
