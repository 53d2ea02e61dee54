// Generated from src-tauri/src/names.rs and main.rs. Do not edit.

/** The commands the window may invoke. */
export const COMMAND = {
  app_info: "app_info",
  opened_files: "opened_files",
  ready: "ready",
  library: "library",
  learners: "learners",
  add_learner: "add_learner",
  select_learner: "select_learner",
  set_language: "set_language",
  find_packs: "find_packs",
  preview_pack: "preview_pack",
  import_pack: "import_pack",
  hub_courses: "hub_courses",
  download_course: "download_course",
  outline: "outline",
  progress: "progress",
  record: "record",
  answer_quiz: "answer_quiz",
  sync_status: "sync_status",
  sync_now: "sync_now",
  enroll: "enroll",
  set_hub_url: "set_hub_url",
  find_bundles: "find_bundles",
  bundle_destination: "bundle_destination",
  export_bundle: "export_bundle",
  import_bundle: "import_bundle",
} as const;

export const IMPORT_PROGRESS_EVENT = "import-progress";
export const DOWNLOAD_PROGRESS_EVENT = "download-progress";
export const SYNC_STATUS_EVENT = "sync-status";
export const LIBRARY_CHANGED_EVENT = "library-changed";
export const FILES_OPENED_EVENT = "files-opened";
