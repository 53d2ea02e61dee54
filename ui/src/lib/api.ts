// Typed calls into the Tauri commands of src-tauri/src/commands.rs. The
// types are generated from the Rust ones (ts-rs, in ./bindings, written by
// `cargo test`); none is copied by hand.
import { invoke } from "@tauri-apps/api/core";
import type { PackSummary } from "./bindings/PackSummary";
import type { Learner } from "./bindings/Learner";
import type { Settings } from "./bindings/Settings";
import type { AppInfo } from "./bindings/AppInfo";
import type { FoundPack } from "./bindings/FoundPack";
import type { Signer } from "./bindings/Signer";
import type { PackPreview } from "./bindings/PackPreview";
import type { ImportReport } from "./bindings/ImportReport";
import type { Progress } from "./bindings/Progress";
import type { Question } from "./bindings/Question";
import type { OutlineLesson } from "./bindings/OutlineLesson";
import type { OutlineModule } from "./bindings/OutlineModule";
import type { Outline } from "./bindings/Outline";
import type { Score } from "./bindings/Score";
import type { Position } from "./bindings/Position";
import type { LessonProgress } from "./bindings/LessonProgress";
import type { ModuleProgress } from "./bindings/ModuleProgress";
import type { PackProgress } from "./bindings/PackProgress";
import type { Resume } from "./bindings/Resume";
import type { LearnerProgress } from "./bindings/LearnerProgress";
import type { Answer } from "./bindings/Answer";
import type { EventBody } from "./bindings/EventBody";
import type { ItemResult } from "./bindings/ItemResult";
import type { Graded } from "./bindings/Graded";
import type { CommandError } from "./bindings/CommandError";
import type { SyncError } from "./bindings/SyncError";
import type { SyncStatus } from "./bindings/SyncStatus";
import type { LowSpace } from "./bindings/LowSpace";
import type { Enrolled } from "./bindings/Enrolled";
import type { BundleImport } from "./bindings/BundleImport";
import type { WireCode } from "./bindings/WireCode";
import type { Offer } from "./bindings/Offer";
import type { OfferStatus } from "./bindings/OfferStatus";
import type { DownloadProgress } from "./bindings/DownloadProgress";

export type {
  PackSummary,
  Learner,
  Settings,
  AppInfo,
  FoundPack,
  Signer,
  PackPreview,
  ImportReport,
  Progress,
  Question,
  OutlineLesson,
  OutlineModule,
  Outline,
  Score,
  Position,
  LessonProgress,
  ModuleProgress,
  PackProgress,
  Resume,
  LearnerProgress,
  Answer,
  EventBody,
  ItemResult,
  Graded,
};

/** The URL of a pack file in the lesson frame's scheme (each pack is its own host). */
export function lessonUrl(packId: string, path: string): string {
  return `kalamu-lesson://${packId}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

export type {
  CommandError,
  SyncError,
  SyncStatus,
  LowSpace,
  Enrolled,
  BundleImport,
  WireCode,
  Offer,
  OfferStatus,
  DownloadProgress,
};

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
  hubCourses: () => invoke<Offer[]>("hub_courses"),
  downloadCourse: (packId: string, allowUnsigned: boolean) =>
    invoke<ImportReport>("download_course", { packId, allowUnsigned }),
  outline: (packId: string) => invoke<Outline>("outline", { packId }),
  progress: (learnerId: string) => invoke<LearnerProgress>("progress", { learnerId }),
  record: (learnerId: string, packId: string, lessonId: string, body: EventBody) =>
    invoke<void>("record", { learnerId, packId, lessonId, body }),
  answerQuiz: (learnerId: string, packId: string, lessonId: string, answers: Record<string, Answer>) =>
    invoke<Graded>("answer_quiz", { learnerId, packId, lessonId, answers }),
};

export const IMPORT_PROGRESS_EVENT = "import-progress";
export const DOWNLOAD_PROGRESS_EVENT = "download-progress";
export const SYNC_STATUS_EVENT = "sync-status";
