/** Kysely table types of the portal module. */

/** PortalLinkTable: a one-time link a product's backend minted for one tenant's admin. */
export interface PortalLinkTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  surface_id: string;
  /** token_hash: SHA-256 (hex) of the link's token; the token itself is never stored. */
  token_hash: string;
  /** features: the portal's sections, JSON array (`webhooks`, `audit`, …). */
  features: unknown;
  return_url: string | null;
  actor_email: string | null;
  actor_name: string | null;
  session_ttl_ms: number;
  created_by_type: string;
  created_by_id: string;
  created_at: number;
  expires_at: number;
  /** used_at: when the link was exchanged for a session (single use), null until then. */
  used_at: number | null;
  session_id: string | null;
}

/** PortalSessionTable: a portal session, opened by exchanging a link. */
export interface PortalSessionTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  surface_id: string;
  link_id: string;
  token_hash: string;
  features: unknown;
  return_url: string | null;
  actor_email: string | null;
  actor_name: string | null;
  created_by_type: string;
  created_by_id: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

/** PortalThemeTable: a surface's portal theme (one row per surface). */
export interface PortalThemeTable {
  environment_id: string;
  surface_id: string;
  name: string | null;
  logo_url: string | null;
  primary_color: string | null;
  accent_color: string | null;
  created_at: number;
  updated_at: number;
}

export interface PortalTables {
  portal_link: PortalLinkTable;
  portal_session: PortalSessionTable;
  portal_theme: PortalThemeTable;
}
