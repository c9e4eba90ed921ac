-- +goose Up
-- The inbox is pruned by age (store.PruneInbox): without this index every batch would scan the whole table.
CREATE INDEX processed_events_by_time ON processed_events (processed_at);

-- +goose Down
DROP INDEX processed_events_by_time;
