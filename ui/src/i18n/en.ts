// English message catalog: the reference every other catalog must match.
export const en = {
  appName: "Kalamu",
  tagline: "Learning that works without the network",
  library: "Library",
  emptyTitle: "No courses yet",
  emptyBody:
    "Courses arrive as course packs (.kpack files), on a USB stick or from your training center's hub.",
  emptyHowTo: "To add one, a staff member runs this command on this laptop:",
  emptyCommand: "kalamu import /media/usb/course.kpack",
  packCount: (n: number) => (n === 1 ? "1 course" : `${n} courses`),
  version: (v: string) => `Version ${v}`,
  by: (publisher: string) => `by ${publisher}`,
  unsigned: "Unsigned pack",
  learner: "Learner",
  chooseLearner: "Who is studying?",
  addLearner: "New learner",
  learnerName: "Name",
  add: "Add",
  cancel: "Cancel",
  language: "Language",
  syncNotSetUp: "Sync not set up: progress is saved on this laptop.",
  dataDir: (dir: string) => `Data: ${dir}`,
  storeError: "Kalamu cannot open its data",
  loading: "Loading…",
} as const;

/** The shape every catalog has. */
export type Messages = { [K in keyof typeof en]: (typeof en)[K] extends (...a: infer A) => string ? (...a: A) => string : string };
