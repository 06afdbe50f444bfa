-- Whether the running attempt has begun (the worker started it), or only been
-- claimed into a worker's ready queue. A daemon that dies leaves both kinds
-- running; at the next start the begun ones count their attempt, the others
-- go back to the queue without one.
ALTER TABLE jobs ADD COLUMN begun INTEGER NOT NULL DEFAULT 1;
