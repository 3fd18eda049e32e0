/** Kysely table types of the access module (its tables only). */

export interface RoleTable {
  id: string;
  environment_id: string;
  key: string;
  name: string;
  description: string | null;
  permissions: unknown;
  created_at: number;
  updated_at: number;
}

export interface MembershipTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  user_id: string;
  roles: unknown;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

/** MembershipRoleTable indexes which memberships hold which role (role deletion checks, owner count). */
export interface MembershipRoleTable {
  membership_id: string;
  environment_id: string;
  tenant_id: string;
  role_key: string;
}

export interface InvitationTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  email: string;
  email_normalized: string;
  roles: unknown;
  token_hash: string;
  surface_id: string | null;
  invited_by: string;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
  accepted_by: string | null;
  revoked_at: number | null;
}

export interface TenantKeyTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  surface_id: string;
  name: string;
  token_hash: string;
  display: string;
  permissions: unknown;
  created_by: string;
  created_by_type: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
  replaced_by: string | null;
}

export interface AgentKeyTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  user_id: string;
  surface_id: string;
  name: string;
  model: string | null;
  token_hash: string;
  display: string;
  scopes: unknown;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface AccessTables {
  role: RoleTable;
  membership: MembershipTable;
  membership_role: MembershipRoleTable;
  invitation: InvitationTable;
  tenant_key: TenantKeyTable;
  agent_key: AgentKeyTable;
}
