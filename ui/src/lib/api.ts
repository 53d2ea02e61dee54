// Typed calls into the Tauri commands of src-tauri. The types are generated
// from the Rust ones (ts-rs, in ./bindings, written by `cargo test`), and so
// are the command and event names (./bindings/names.ts); none is copied by hand.
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
import { COMMAND } from "./bindings/names";

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
  appInfo: () => invoke<AppInfo>(COMMAND.app_info),
  ready: () => invoke<void>(COMMAND.ready),
  library: () => invoke<PackSummary[]>(COMMAND.library),
  learners: () => invoke<Learner[]>(COMMAND.learners),
  addLearner: (name: string, pin: string | null) => invoke<Learner>(COMMAND.add_learner, { name, pin }),
  selectLearner: (id: string, pin: string | null) => invoke<Learner>(COMMAND.select_learner, { id, pin }),
  setLanguage: (language: string) => invoke<void>(COMMAND.set_language, { language }),
  findPacks: () => invoke<FoundPack[]>(COMMAND.find_packs),
  openedFiles: () => invoke<string[]>(COMMAND.opened_files),
  syncStatus: () => invoke<SyncStatus>(COMMAND.sync_status),
  syncNow: () => invoke<void>(COMMAND.sync_now),
  enroll: (hubUrl: string, code: string) => invoke<Enrolled>(COMMAND.enroll, { hubUrl, code }),
  setHubUrl: (hubUrl: string) => invoke<string>(COMMAND.set_hub_url, { hubUrl }),
  findBundles: () => invoke<FoundPack[]>(COMMAND.find_bundles),
  bundleDestination: () => invoke<string | null>(COMMAND.bundle_destination),
  exportBundle: (path: string) => invoke<number>(COMMAND.export_bundle, { path }),
  importBundle: (path: string) => invoke<BundleImport>(COMMAND.import_bundle, { path }),
  previewPack: (path: string) => invoke<PackPreview>(COMMAND.preview_pack, { path }),
  importPack: (path: string, allowUnsigned: boolean, acceptNewPublisher: boolean) =>
    invoke<ImportReport>(COMMAND.import_pack, { path, allowUnsigned, acceptNewPublisher }),
  hubCourses: () => invoke<Offer[]>(COMMAND.hub_courses),
  downloadCourse: (packId: string, allowUnsigned: boolean, acceptNewPublisher: boolean) =>
    invoke<ImportReport>(COMMAND.download_course, { packId, allowUnsigned, acceptNewPublisher }),
  outline: (packId: string) => invoke<Outline>(COMMAND.outline, { packId }),
  progress: (learnerId: string) => invoke<LearnerProgress>(COMMAND.progress, { learnerId }),
  record: (learnerId: string, packId: string, lessonId: string, body: EventBody) =>
    invoke<void>(COMMAND.record, { learnerId, packId, lessonId, body }),
  answerQuiz: (learnerId: string, packId: string, lessonId: string, answers: Record<string, Answer>) =>
    invoke<Graded>(COMMAND.answer_quiz, { learnerId, packId, lessonId, answers }),
};

export {
  IMPORT_PROGRESS_EVENT,
  DOWNLOAD_PROGRESS_EVENT,
  SYNC_STATUS_EVENT,
  LIBRARY_CHANGED_EVENT,
  FILES_OPENED_EVENT,
} from "./bindings/names";
