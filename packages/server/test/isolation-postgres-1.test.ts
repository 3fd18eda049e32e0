import { replayEveryRoute } from "./isolation-replay.js";

// Every route replayed with another tenant's and another environment's credentials, on PostgreSQL: shard 1 of 2.
replayEveryRoute("postgres", 0);
