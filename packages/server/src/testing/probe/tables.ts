/** ProbeTables are the Kysely types of the probe module's tables. */
export interface ProbeTables {
  probe_item: { id: string; environment_id: string; name: string; created_at: number };
  probe_fact: { id: string; type: string; environment_id: string | null; actor_id: string | null; targets: string };
  probe_job_run: { id: string; job_id: string; worker_pid: number; ran_at: number };
}
