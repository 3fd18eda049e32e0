/** Token prefixes of the identity module's credentials (GitHub-style: kind prefix + checksum). */
export const TOKEN_PREFIX = {
  secretKey: "bp_sk_",
  session: "bp_st_",
  operator: "bp_ot_",
  passwordReset: "bp_pr_",
  mfaChallenge: "bp_mc_",
} as const;
