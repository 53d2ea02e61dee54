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
  has_pin: boolean;
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

export interface Question {
  id: string;
  prompt: string;
  kind: "single" | "multiple" | "numeric" | "text";
  choices: string[];
}

export interface OutlineLesson {
  id: string;
  title: string;
  entry: string | null;
  quiz: Question[] | null;
}

export interface OutlineModule {
  id: string;
  title: string;
  lessons: OutlineLesson[];
}

export interface Outline {
  id: string;
  title: string;
  language: string;
  modules: OutlineModule[];
}

export interface Score {
  score: number;
  max: number;
}

export interface Position {
  media: string | null;
  at: number;
}

export interface LessonProgress {
  opened: boolean;
  completed: boolean;
  position: Position | null;
  attempts: number;
  best: Score | null;
  mastered: boolean;
  seconds: number;
}

export interface PackProgress {
  pack_id: string;
  completed: number;
  total: number;
  seconds: number;
  lessons: Record<string, LessonProgress>;
}

export interface LearnerProgress {
  packs: PackProgress[];
  resume: { pack_id: string; lesson_id: string; position: Position | null } | null;
  seconds: number;
}

export type Answer = number | number[] | string;

export type EventBody =
  | { kind: "lesson_opened" }
  | { kind: "lesson_completed" }
  | { kind: "position"; media?: string; at: number }
  | { kind: "time_spent"; seconds: number };

export interface Graded {
  score: number;
  max: number;
  items: { id: string; correct: boolean; feedback: string }[];
}

/** The URL of a pack file in the lesson frame's scheme (each pack is its own host). */
export function lessonUrl(packId: string, path: string): string {
  return `kalamu-lesson://${packId}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

/** An error from a command: a stable code and a sentence to show. */
export interface CommandError {
  code: string;
  message: string;
}

export interface SyncError {
  code: string;
  message: string;
}

export interface SyncStatus {
  enrolled: boolean;
  center: string | null;
  hub_url: string | null;
  syncing: boolean;
  pending: number;
  last_sync_at: number | null;
  error: SyncError | null;
  retry_in_s: number | null;
  low_space: { free_mb: number; reserve_mb: number } | null;
  identity_clash: boolean;
}

export interface Enrolled {
  center: string;
  hub_url: string;
}

export interface BundleImport {
  received: number;
  new: number;
}

/** The PIN rule as an HTML pattern; kalamu-core checks the same rule (four digits) and refuses otherwise. */
export const PIN_PATTERN = "[0-9]{4}";

export function isCommandError(e: unknown): e is CommandError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  ready: () => invoke<void>("ready"),
  library: () => invoke<PackSummary[]>("library"),
  learners: () => invoke<Learner[]>("learners"),
  addLearner: (name: string, pin: string | null) => invoke<Learner>("add_learner", { name, pin }),
  selectLearner: (id: string, pin: string | null) => invoke<Learner>("select_learner", { id, pin }),
  setLanguage: (language: string) => invoke<void>("set_language", { language }),
  findPacks: () => invoke<FoundPack[]>("find_packs"),
  syncStatus: () => invoke<SyncStatus>("sync_status"),
  syncNow: () => invoke<void>("sync_now"),
  enroll: (hubUrl: string, code: string) => invoke<Enrolled>("enroll", { hubUrl, code }),
  setHubUrl: (hubUrl: string) => invoke<string>("set_hub_url", { hubUrl }),
  findBundles: () => invoke<FoundPack[]>("find_bundles"),
  bundleDestination: () => invoke<string | null>("bundle_destination"),
  exportBundle: (path: string) => invoke<number>("export_bundle", { path }),
  importBundle: (path: string) => invoke<BundleImport>("import_bundle", { path }),
  previewPack: (path: string) => invoke<PackPreview>("preview_pack", { path }),
  importPack: (path: string, allowUnsigned: boolean) =>
    invoke<ImportReport>("import_pack", { path, allowUnsigned }),
  outline: (packId: string) => invoke<Outline>("outline", { packId }),
  progress: (learnerId: string) => invoke<LearnerProgress>("progress", { learnerId }),
  record: (learnerId: string, packId: string, lessonId: string, body: EventBody) =>
    invoke<void>("record", { learnerId, packId, lessonId, body }),
  answerQuiz: (learnerId: string, packId: string, lessonId: string, answers: Record<string, Answer>) =>
    invoke<Graded>("answer_quiz", { learnerId, packId, lessonId, answers }),
};

export const IMPORT_PROGRESS_EVENT = "import-progress";
export const SYNC_STATUS_EVENT = "sync-status";
