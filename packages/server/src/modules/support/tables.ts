/** Kysely table types of the support module. */

/** SupportAccessTable: one operator's request for time-boxed access to one tenant, and its fate. */
export interface SupportAccessTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  operator_id: string;
  /** operator_name: the operator's email or name when it asked (shown to the tenant's owners). */
  operator_name: string | null;
  reason: string;
  /** access: `read` or `write`. */
  access: string;
  duration_seconds: number;
  /** status: `pending`, `active`, `denied` or `ended` (expiry is read from `expires_at`). */
  status: string;
  /** policy: the tenant's policy when it was asked (`notify` or `approval_required`). */
  policy: string;
  requested_at: number;
  decided_at: number | null;
  /** decided_by: the member who approved or denied (null: granted by the `notify` policy). */
  decided_by: string | null;
  decision_note: string | null;
  /** expires_at: set when the access becomes active. */
  expires_at: number | null;
  ended_at: number | null;
  /** ended_by_type / ended_by_id: who ended it early (the operator, a member, a secret key). */
  ended_by_type: string | null;
  ended_by_id: string | null;
}

/** SupportPolicyTable: a tenant's own support policy (absent: `notify`). */
export interface SupportPolicyTable {
  environment_id: string;
  tenant_id: string;
  mode: string;
  updated_at: number;
}

export interface SupportTables {
  support_access: SupportAccessTable;
  support_policy: SupportPolicyTable;
}
