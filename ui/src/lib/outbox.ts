/**
 * Progress records on their way to the store. A record the store could not
 * take (busy beside a staff command for longer than it waits, or the disk
 * full) is kept, in memory and in the webview's storage, and sent again in
 * order until it is stored: nothing a learner did is dropped. A record the
 * store refuses for what it says (a lesson that no longer exists) would be
 * refused again, so it is not kept.
 */
import { api, isCommandError } from "./api";
import type { EventBody } from "./bindings/EventBody";

interface Pending {
  learnerId: string;
  packId: string;
  lessonId: string;
  body: EventBody;
}

/** Codes of failures that pass: the same record may be stored later. */
const PASSING = new Set(["store", "io", "no_space"]);
const KEY = "kalamu.outbox";
/** Most records kept: hours of positions, a few hundred KB of storage. */
const MAX_KEPT = 5000;
const RETRY_MS = 3000;

let queue: Pending[] = load();
let timer: ReturnType<typeof setTimeout> | null = null;
let running: Promise<void> | null = null;
// Records kept when the app last closed are sent once it is up again.
if (queue.length > 0) later();

function load(): Pending[] {
  try {
    const kept = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(kept) ? kept : [];
  } catch {
    return [];
  }
}

function save() {
  try {
    if (queue.length === 0) localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, JSON.stringify(queue));
  } catch {
    // Storage full or unavailable: the records stay in memory.
  }
}

function later() {
  if (timer === null) timer = setTimeout(() => ((timer = null), void flush()), RETRY_MS);
}

/** Whether a failure may pass, so the record is worth keeping. */
function passing(e: unknown): boolean {
  return !isCommandError(e) || PASSING.has(e.code);
}

/** Records `body`, or keeps it to send again. Resolves once it is stored or kept. */
export async function record(learnerId: string, packId: string, lessonId: string, body: EventBody): Promise<void> {
  queue.push({ learnerId, packId, lessonId, body });
  if (queue.length > MAX_KEPT) queue.splice(0, queue.length - MAX_KEPT);
  save();
  await flush();
}

/** How many records wait to be stored. */
export function waiting(): number {
  return queue.length;
}

/** Sends the kept records, oldest first, until none is left or one fails again. */
export function flush(): Promise<void> {
  running ??= drain().finally(() => (running = null));
  return running;
}

async function drain() {
  while (queue.length > 0) {
    const next = queue[0];
    try {
      await api.record(next.learnerId, next.packId, next.lessonId, next.body);
    } catch (e) {
      if (passing(e)) {
        later();
        return;
      }
    }
    queue.shift();
    save();
  }
}
