/** Concurrent jobs (BullMQ worker) and concurrent deliveries (Punctual's deliver maxConcurrency) in every run. */
export const PEER_CONCURRENCY = 100;
