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
};
