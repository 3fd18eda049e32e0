import { defineErrors } from "../../platform/errors.js";

export const StorageErrors = defineErrors({
  file_not_found: { status: 404, title: "File not found" },
  bucket_not_found: { status: 404, title: "Bucket not found" },
  bucket_name_taken: { status: 409, title: "A bucket with this name exists" },
  bucket_not_empty: { status: 409, title: "The bucket still holds files" },
  file_too_large: { status: 413, title: "The file is larger than the bucket allows" },
  file_type_refused: { status: 415, title: "The file's type is not allowed in this bucket" },
  storage_quota_exceeded: { status: 409, title: "The storage quota would be exceeded" },
  upload_incomplete: { status: 400, title: "The upload ended before the body was complete" },
  signature_invalid: { status: 403, title: "The signed URL is not valid" },
  signature_expired: { status: 410, title: "The signed URL has expired" },
  range_not_satisfiable: { status: 416, title: "The requested range is not satisfiable" },
});
