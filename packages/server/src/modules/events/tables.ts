/** Kysely table types of the events module. */
export interface EventTable {
  environment_id: string;
  /** seq is the event's position in its environment's log: 1, 2, 3 … with no gaps. */
  seq: number;
  /** id is the plane's id of the event (`evt_…`), unique in the environment. */
  id: string;
  /** client_id is the publisher's own id, unique within `client_scope` (null: none given, or a fact). */
  client_id: string | null;
  /** client_scope is who may reuse `client_id`: `environment` (secret keys) or `tenant:<id>`. */
  client_scope: string | null;
  tenant_id: string | null;
  type: string;
  source: string;
  subject: string | null;
  time: number;
  data: unknown;
  created_at: number;
}

export interface EventSequenceTable {
  environment_id: string;
  last_seq: number;
}

export interface EventTypeTable {
  id: string;
  environment_id: string;
  name: string;
  description: string;
  version: number;
  schema: unknown;
  deprecated_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface EventSettingsTable {
  environment_id: string;
  retention_days: number;
  updated_at: number;
}

export interface EventsTables {
  event: EventTable;
  event_sequence: EventSequenceTable;
  event_type: EventTypeTable;
  event_settings: EventSettingsTable;
}
