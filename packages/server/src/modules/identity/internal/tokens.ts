/** Token prefixes of the identity module's credentials (GitHub-style: kind prefix + checksum). */
export const TOKEN_PREFIX = {
  secretKey: "bp_sk_",
  session: "bp_st_",
  operator: "bp_ot_",
  passwordReset: "bp_pr_",
  refreshToken: "bp_rt_",
  verifyEmail: "bp_ve_",
  magicLink: "bp_ml_",
  emailChange: "bp_ec_",
  mfaChallenge: "bp_mc_",
} as const;
