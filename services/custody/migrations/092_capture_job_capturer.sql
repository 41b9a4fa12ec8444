-- The party that captured a job (its handler id, or the tenant / authority that sent it on the topic): a capturer
-- reads its jobs, parked events included, whichever of its keys or channels captured them.
ALTER TABLE capture_jobs ADD COLUMN capturer text;
UPDATE capture_jobs SET capturer = CASE
    WHEN principal ~ '^(carrier|collector|recycler|refiner|repairer):' THEN split_part(principal, ':', 2)
    WHEN principal LIKE 'urn:bpass:handler:%' THEN split_part(principal, ':', 4)
    END;
CREATE INDEX capture_jobs_capturer ON capture_jobs (capturer, captured_at DESC) WHERE capturer IS NOT NULL;
