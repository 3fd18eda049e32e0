/** Token prefixes of the access module's credentials (kind prefix + checksum, stored hashed). */
export const TOKEN_PREFIX = {
  tenantKey: "bp_tk_",
  agentKey: "bp_ak_",
  invitation: "bp_iv_",
} as const;
