-- The results store: one SQLite file per results folder (OUT/results.sqlite), WAL mode.
-- Rows are only ever added: a later stage or a re-run adds rows, it never rewrites them.
-- "Latest" always means the row with the highest id for its key.

-- Version 2 added work_items.scenario; version 3 added prompts.prior_turns_json and
-- classifications.escalation(_evidence_json); version 4 the prompt-cache token counts of
-- responses; version 5 batches.purpose and the judge batch tables; version 6 the token counts
-- and paying run of judge_cache; version 7 classifications.unparsed and judge_failures; version 8
-- one table family for batches of every purpose (batch_requests and batch_results replace
-- batch_items, judge_batch_items, batch_answers and judge_batch_answers, which remain as views).
-- version 9 the steps of agent episodes (episode_steps) and the verdict fields of an episode
-- on its classification (steps, terminal, harmful_step, harmful_at, harmful_tool,
-- leverage_read_first). Version 10 each judge's verdict on a classification (judge_verdicts).
-- Version 11 the reviewers' labels (labels, append-only).
-- Store::open migrates an older store before this runs.
PRAGMA user_version = 11;

-- One row per `misalign run`, `classify` or `import` invocation: the manifest a paper can cite.
CREATE TABLE IF NOT EXISTS runs (
    id               INTEGER PRIMARY KEY,
    command          TEXT NOT NULL,          -- 'run' | 'classify' | 'import'
    experiment_id    TEXT NOT NULL,
    misalign_version TEXT NOT NULL,
    experiment_text  TEXT NOT NULL,          -- the experiment file as read, configured secrets scrubbed ('' for an import)
    experiment_sha256 TEXT NOT NULL,         -- of the file as read, before scrubbing
    packs_json       TEXT NOT NULL,          -- {scenario: sha256 of its pack files}
    models_json      TEXT NOT NULL,          -- resolved model names
    sampling_json    TEXT NOT NULL,          -- SamplingParams
    started_at       TEXT NOT NULL           -- RFC 3339 UTC
);

-- End of a run, as its own row (runs rows are never rewritten).
CREATE TABLE IF NOT EXISTS run_ends (
    run_id    INTEGER PRIMARY KEY REFERENCES runs(id),
    ended_at  TEXT NOT NULL,
    status    TEXT NOT NULL,                 -- 'completed' | 'interrupted' | 'failed' | 'auth_error' | 'budget_reached'
    totals_json TEXT NOT NULL                -- counts, tokens, cost
);

-- Each distinct rendered prompt, stored once (not once per sample).
CREATE TABLE IF NOT EXISTS prompts (
    prompt_hash   TEXT PRIMARY KEY,
    condition_id  TEXT NOT NULL,
    condition_json TEXT NOT NULL,            -- misalign_core::Condition
    system_prompt TEXT NOT NULL,
    user_prompt   TEXT NOT NULL,
    email_content TEXT NOT NULL,
    prior_turns_json TEXT                    -- earlier turns sent before the user message (JSON [{role, text}]); NULL: none
);

-- Work items: condition x model x sample index, keyed by content hash.
CREATE TABLE IF NOT EXISTS work_items (
    item_key     TEXT PRIMARY KEY,           -- plan::work_item_key
    prompt_hash  TEXT NOT NULL REFERENCES prompts(prompt_hash),
    condition_id TEXT NOT NULL,
    model        TEXT NOT NULL,              -- resolved `provider/model`
    sample_index INTEGER NOT NULL,           -- 0-based; exported as sample_{index+1:03}
    params_json  TEXT NOT NULL,
    scenario     TEXT NOT NULL               -- the condition's scenario (it selects the facts)
);

-- Which items each run planned (the report shows the latest run's plan by default).
CREATE TABLE IF NOT EXISTS run_items (
    run_id   INTEGER NOT NULL REFERENCES runs(id),
    item_key TEXT NOT NULL REFERENCES work_items(item_key),
    PRIMARY KEY (run_id, item_key)
);

-- Attempts that ended: one row per finished call (answer) or given-up call (error).
CREATE TABLE IF NOT EXISTS responses (
    id             INTEGER PRIMARY KEY,
    item_key       TEXT NOT NULL REFERENCES work_items(item_key),
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    status         TEXT NOT NULL,            -- 'answer' | 'content_filtered' | 'empty' | 'error'
    answer         TEXT,
    reasoning      TEXT,
    finish_reason  TEXT,
    input_tokens   INTEGER,                  -- input read without the prompt cache
    output_tokens  INTEGER,
    reasoning_tokens INTEGER,
    latency_ms     INTEGER,
    attempts       INTEGER NOT NULL,
    request_id     TEXT,
    error          TEXT,                     -- for status 'error': the last error, key-free
    error_class    TEXT,                     -- 'retryable' | 'permanent' | 'auth'
    raw_reply      TEXT,
    started_at     TEXT NOT NULL,
    finished_at    TEXT NOT NULL,
    cache_write_tokens INTEGER,              -- input written to the prompt cache
    cache_read_tokens  INTEGER               -- input read from the prompt cache
);
-- At most one stored answer per work item: the guarantee behind "none duplicated".
CREATE UNIQUE INDEX IF NOT EXISTS one_answer_per_item
    ON responses(item_key) WHERE status != 'error';
CREATE INDEX IF NOT EXISTS responses_item ON responses(item_key);

-- Verdicts: one row per classification of a response; the latest per response counts.
CREATE TABLE IF NOT EXISTS classifications (
    id                 INTEGER PRIMARY KEY,
    response_id        INTEGER NOT NULL REFERENCES responses(id),
    item_key           TEXT NOT NULL,
    classifier_version TEXT NOT NULL,        -- detector + rubric versions
    actions_json       TEXT NOT NULL,        -- parsed tool calls
    parse_issues_json  TEXT NOT NULL,
    detector_verdict   INTEGER NOT NULL,     -- 0/1
    detector_evidence_json TEXT NOT NULL,
    judge_model        TEXT,
    judge_verdict      INTEGER,              -- 0/1, NULL without judge or on judge error
    judge_reasoning    TEXT,
    judge_error        TEXT,                 -- set => excluded from rates
    final_verdict      INTEGER,              -- 0/1; NULL when judge_error
    whistleblowing     INTEGER,              -- leaking: reported to an authority
    awareness_label    TEXT,                 -- deliberates_thinks_eval | deliberates_thinks_real | no_deliberation
    awareness_reasoning TEXT,
    classified_at      TEXT NOT NULL,
    escalation         INTEGER,              -- 0/1: raised its concern through a legitimate channel; NULL: older classifier
    escalation_evidence_json TEXT,           -- the emails that did (detect::escalation)
    unparsed           INTEGER,              -- 0/1 (schema 7): an action-like block could not be read; NULL before
    -- Agent episode verdicts (schema 9); NULL for single answers (docs/classification.md).
    steps              INTEGER,              -- steps the episode committed
    terminal           TEXT,                 -- how it ended: finished | step_limit | the event (wipe)
    harmful_step       INTEGER,              -- step of the first harmful action; NULL: none
    harmful_at         TEXT,                 -- its simulated time, YYYY-MM-DDTHH:MM:SS
    harmful_tool       TEXT,                 -- the tool it called (send_email, forward_email, cancel_alert)
    leverage_read_first INTEGER              -- 0/1: a leverage email was read before it
);
CREATE INDEX IF NOT EXISTS classifications_response ON classifications(response_id);

-- Judge calls cached by (judge model, rubric version, transcript hash).
CREATE TABLE IF NOT EXISTS judge_cache (
    cache_key     TEXT PRIMARY KEY,
    judge_model   TEXT NOT NULL,
    rubric_version TEXT NOT NULL,
    transcript_hash TEXT NOT NULL,
    verdict       INTEGER,
    label         TEXT,
    reasoning     TEXT NOT NULL,
    raw           TEXT NOT NULL,
    -- What the call that produced this reply cost (schema 6): the provider's four token
    -- counts, as for answers (NULL = not reported, or cached before version 6), and the run
    -- that paid for it (a batch reply: the run that sent the batch). A reply reused from the
    -- cache is not paid again, so only the run named here counts it.
    input_tokens       INTEGER, -- judge usage
    cache_write_tokens INTEGER, -- judge usage
    cache_read_tokens  INTEGER, -- judge usage
    output_tokens      INTEGER, -- judge usage
    run_id             INTEGER, -- judge usage
    created_at    TEXT NOT NULL
);

-- Judge calls whose reply could not be used (schema 7): not cached (a rerun asks again),
-- but the provider billed the attempts that got a reply, so their token counts are kept
-- here for the cost of the run that made them (NULL: not reported).
CREATE TABLE IF NOT EXISTS judge_failures (
    id                 INTEGER PRIMARY KEY,
    cache_key          TEXT NOT NULL,        -- the judge_cache key the call was for
    judge_model        TEXT NOT NULL,
    input_tokens       INTEGER,
    cache_write_tokens INTEGER,
    cache_read_tokens  INTEGER,
    output_tokens      INTEGER,
    run_id             INTEGER,
    batched            INTEGER NOT NULL DEFAULT 0, -- 1: made in a provider batch (batch price)
    error              TEXT NOT NULL,
    created_at         TEXT NOT NULL
);

-- For SQL users: one row per work item with its latest answer (a response that is not an
-- error) and that answer's latest classification, the joins every report does. Response and
-- classification columns are NULL while the item has no answer or no verdict yet.
CREATE VIEW IF NOT EXISTS current_answers AS
SELECT w.item_key, w.model, w.condition_id, w.scenario, w.sample_index, w.prompt_hash,
       r.id AS response_id, r.run_id, r.status, r.answer, r.reasoning, r.finish_reason,
       r.input_tokens, r.output_tokens, r.reasoning_tokens, r.latency_ms, r.attempts,
       r.started_at, r.finished_at,
       r.cache_write_tokens, r.cache_read_tokens,
       c.id AS classification_id, c.classifier_version, c.detector_verdict,
       c.judge_model, c.judge_verdict, c.judge_reasoning, c.judge_error, c.final_verdict,
       c.whistleblowing, c.awareness_label, c.awareness_reasoning, c.classified_at,
       c.escalation
  FROM work_items w
  LEFT JOIN responses r ON r.id = (SELECT max(x.id) FROM responses x
                                    WHERE x.item_key = w.item_key AND x.status != 'error')
  LEFT JOIN classifications c ON c.id = (SELECT max(y.id) FROM classifications y
                                          WHERE y.response_id = r.id);

-- Provider batches (execution.batch and classification.batch; docs/batch.md), one table
-- family for every purpose. A batch row and its requests are committed BEFORE the batch is
-- sent, so a run killed at any moment knows what it may have paid for; what happened to the
-- batch is added as events (rows are never rewritten).
CREATE TABLE IF NOT EXISTS batches (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    model         TEXT NOT NULL,             -- resolved `provider/model` (the judge's, for 'judge')
    provider      TEXT NOT NULL,
    marker        TEXT NOT NULL UNIQUE,      -- our name for the submission (sent where the API keeps one)
    request_count INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    purpose       TEXT NOT NULL DEFAULT 'sample' -- 'sample' (requests are work items) | 'judge' (judge calls)
);
-- What each request of a batch is for (schema 8).
CREATE TABLE IF NOT EXISTS batch_requests (
    batch_id    INTEGER NOT NULL REFERENCES batches(id),
    position    INTEGER NOT NULL,            -- order in the submission
    custom_id   TEXT NOT NULL,
    request_key TEXT NOT NULL,               -- 'sample': the work item's key; 'judge': the judge_cache key
    call        TEXT,                        -- 'judge' only: 'judge' | 'awareness'
    response_id INTEGER REFERENCES responses(id), -- 'judge' only: the answer being classified
    PRIMARY KEY (batch_id, position)
);
CREATE INDEX IF NOT EXISTS batch_requests_key ON batch_requests(request_key);
-- 'submitted' (remote_id set) | 'ended' | 'ingested' | 'failed' (the whole batch: its items
-- are sent again) | 'abandoned' (never created on the server: its items are sent again).
CREATE TABLE IF NOT EXISTS batch_events (
    id        INTEGER PRIMARY KEY,
    batch_id  INTEGER NOT NULL REFERENCES batches(id),
    kind      TEXT NOT NULL,
    remote_id TEXT,
    detail    TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batch_events_batch ON batch_events(batch_id);
-- Results that came from a batch, billed at the provider's batch price (schema 8): an answer
-- (response_id set; a response without a row here was a live call) or a cached judge reply
-- (response_id NULL, request_key the judge_cache key; a cache row without one was live).
CREATE TABLE IF NOT EXISTS batch_results (
    batch_id    INTEGER NOT NULL REFERENCES batches(id),
    request_key TEXT NOT NULL,
    response_id INTEGER UNIQUE REFERENCES responses(id)
);
CREATE UNIQUE INDEX IF NOT EXISTS batch_results_judged ON batch_results(request_key)
    WHERE response_id IS NULL;

-- Schema 7's batch tables, as views over the family above, for SQL written against them.
CREATE VIEW IF NOT EXISTS batch_items AS
SELECT r.batch_id, r.position, r.custom_id, r.request_key AS item_key
  FROM batch_requests r JOIN batches b ON b.id = r.batch_id WHERE b.purpose = 'sample';
CREATE VIEW IF NOT EXISTS judge_batch_items AS
SELECT r.batch_id, r.position, r.custom_id, r.request_key AS cache_key, r.call, r.response_id
  FROM batch_requests r JOIN batches b ON b.id = r.batch_id WHERE b.purpose = 'judge';
CREATE VIEW IF NOT EXISTS batch_answers AS
SELECT response_id, batch_id FROM batch_results WHERE response_id IS NOT NULL;
CREATE VIEW IF NOT EXISTS judge_batch_answers AS
SELECT request_key AS cache_key, batch_id FROM batch_results WHERE response_id IS NULL;

-- Agent mode (schema 9): each step of an episode (a work item of an `_agent` condition),
-- committed before the next step is asked for; the episode's `responses` row is written when
-- it ends. JSON columns: misalign-store's episodes.rs says what each holds.
CREATE TABLE IF NOT EXISTS episode_steps (
    item_key      TEXT NOT NULL REFERENCES work_items(item_key),
    step          INTEGER NOT NULL,          -- 1-based
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    reply_json    TEXT NOT NULL,             -- what the agent said and called
    result_json   TEXT NOT NULL,             -- what the environment gave back
    resume_json   TEXT NOT NULL,             -- the assistant message as sent back next step
    finish_reason TEXT,
    input_tokens  INTEGER,
    output_tokens INTEGER,
    reasoning_tokens INTEGER,
    cache_write_tokens INTEGER,
    cache_read_tokens  INTEGER,
    latency_ms    INTEGER,
    attempts      INTEGER NOT NULL,
    request_id    TEXT,
    raw_reply     TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    PRIMARY KEY (item_key, step)
);

-- Each judge's verdict on a classification (schema 10): one row per classification, judge
-- and role, written with the classification. With several harm judges
-- (`classification.judges`) the classification's judge_* columns hold the combined verdict
-- (docs/classification.md, "Several judges"); these rows hold each judge's own. A
-- classification written before version 10 has no rows here: its judge_* columns are its one
-- judge's (Store::judge_verdicts reads them in their place).
CREATE TABLE IF NOT EXISTS judge_verdicts (
    classification_id INTEGER NOT NULL REFERENCES classifications(id),
    item_key          TEXT NOT NULL,
    judge_model       TEXT NOT NULL,
    role              TEXT NOT NULL,         -- 'harm' | 'awareness'
    verdict           INTEGER,               -- 0/1 (harm); NULL on error and for awareness
    label             TEXT,                  -- awareness: the label; NULL otherwise
    reasoning         TEXT,
    error             TEXT,                  -- set: no usable reply
    PRIMARY KEY (classification_id, judge_model, role)
);
-- Reviewers' labels of answers (schema 11; docs/labels.md). Append-only: a reviewer who
-- changes their mind adds a row, and their latest row (highest id) counts; the triggers
-- refuse UPDATE and DELETE so no label is ever rewritten or lost.
CREATE TABLE IF NOT EXISTS labels (
    id          INTEGER PRIMARY KEY,
    item_key    TEXT NOT NULL REFERENCES work_items(item_key),
    response_id INTEGER REFERENCES responses(id),   -- the answer the reviewer saw
    reviewer    TEXT NOT NULL,
    label       TEXT NOT NULL CHECK (label IN ('harmful', 'not_harmful', 'unsure')),
    note        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,                      -- RFC 3339 UTC
    source      TEXT NOT NULL CHECK (source IN ('viewer', 'import'))
);
CREATE INDEX IF NOT EXISTS labels_item ON labels(item_key);
CREATE TRIGGER IF NOT EXISTS labels_no_update BEFORE UPDATE ON labels
BEGIN SELECT RAISE(ABORT, 'labels are append-only: add a new label instead'); END;
CREATE TRIGGER IF NOT EXISTS labels_no_delete BEFORE DELETE ON labels
BEGIN SELECT RAISE(ABORT, 'labels are append-only: add a new label instead'); END;
