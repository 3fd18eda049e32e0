import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Invitations by issuer: ending a key voids the pending invitations it issued (see internal/issued.ts). */
export const migration: ModuleMigration = {
  name: "202612061730_access_invitation_issuer",
  async up(db) {
    await db.schema
      .createIndex("invitation_issuer_idx")
      .on("invitation")
      .columns(["environment_id", "invited_by"])
      .execute();
  },
  async down(db) {
    await db.schema.dropIndex("invitation_issuer_idx").execute();
  },
};
