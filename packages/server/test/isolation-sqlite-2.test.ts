import { replayEveryRoute } from "./isolation-replay.js";

// Every route replayed with another tenant's and another environment's credentials, on SQLite: shard 2 of 2.
replayEveryRoute("sqlite", 1);
