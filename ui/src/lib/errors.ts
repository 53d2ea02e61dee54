// What a person reads when a command fails: plain words in their language,
// chosen by the error's stable code; the technical sentence stays available
// as "details" (and in the log).
import { isCommandError } from "./api";
import { t } from "../i18n/index.svelte";
import type { Messages } from "../i18n/en";

/** Codes of a pack that is damaged, whatever the damage. */
const PACK_DAMAGE = new Set([
  "not_a_zip",
  "truncated",
  "missing_manifest",
  "invalid_manifest",
  "unsupported_format",
  "malformed_signature",
  "bad_signature",
  "unsafe_path",
  "link",
  "duplicate_entry",
  "case_collision",
  "missing_file",
  "unlisted_entry",
  "size_mismatch",
  "hash_mismatch",
  "too_large",
  "not_what_it_claims",
  "unreadable_entry",
]);
const BUNDLE_DAMAGE = new Set(["not_a_bundle", "bundle_format", "bundle_truncated", "bundle_tampered", "bad_proof"]);

/** An error as shown: the words, and the technical detail behind them. */
export interface ShownError {
  code: string;
  words: string;
  detail: string | null;
}

/** Plain words for `e`, preferring `known` (a form's own words by code). */
export function shownError(e: unknown, known: Partial<Record<string, string>> = {}): ShownError {
  if (!isCommandError(e)) return { code: "unknown", words: t().errGeneric, detail: String(e) };
  const code = PACK_DAMAGE.has(e.code) ? "pack_damaged" : BUNDLE_DAMAGE.has(e.code) ? "bundle_damaged" : e.code;
  const key = `err_${code}` as keyof Messages;
  const own = t()[key];
  const words = known[e.code] ?? (typeof own === "string" ? own : t().errGeneric);
  return { code: e.code, words, detail: e.message };
}
