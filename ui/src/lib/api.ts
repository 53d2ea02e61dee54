// Typed calls into the Tauri commands of src-tauri/src/commands.rs.
// Keep these types in step with the Rust structs they mirror.
import { invoke } from "@tauri-apps/api/core";

export interface PackSummary {
  id: string;
  version: string;
  title: string;
  description: string;
  language: string;
  publisher: string;
  signer: string | null;
  installed_at: number;
}

export interface Learner {
  id: string;
  name: string;
  created_at: number;
}

export interface Settings {
  language: string;
  current_learner: string | null;
}

export interface AppInfo {
  version: string;
  data_dir: string | null;
  settings: Settings;
}

export interface FoundPack {
  path: string;
  size: number;
}

export type Signer =
  | { kind: "trusted"; key: string; name: string }
  | { kind: "unknown"; key: string }
  | { kind: "unsigned" };

export interface PackPreview {
  id: string;
  version: string;
  title: string;
  description: string;
  language: string;
  publisher: string;
  signer: Signer;
  lessons: number;
  bytes: number;
  installed_version: string | null;
}

export interface ImportReport {
  pack: PackSummary;
  upgraded_from: string | null;
  signer_name: string | null;
  files: number;
  bytes: number;
  bytes_written: number;
  chunks_reused: number;
}

export interface Progress {
  done: number;
  total: number;
}

/** An error from a command: a stable code and a sentence to show. */
export interface CommandError {
  code: string;
  message: string;
}

export function isCommandError(e: unknown): e is CommandError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  library: () => invoke<PackSummary[]>("library"),
  learners: () => invoke<Learner[]>("learners"),
  addLearner: (name: string) => invoke<Learner>("add_learner", { name }),
  selectLearner: (id: string) => invoke<void>("select_learner", { id }),
  setLanguage: (language: string) => invoke<void>("set_language", { language }),
  findPacks: () => invoke<FoundPack[]>("find_packs"),
  previewPack: (path: string) => invoke<PackPreview>("preview_pack", { path }),
  importPack: (path: string, allowUnsigned: boolean) =>
    invoke<ImportReport>("import_pack", { path, allowUnsigned }),
};

export const IMPORT_PROGRESS_EVENT = "import-progress";
