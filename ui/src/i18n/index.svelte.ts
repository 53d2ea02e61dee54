// The current language and its messages, shared by every component.
import { en, type Messages } from "./en";
import { fr } from "./fr";

export const LANGUAGES = [
  { code: "en", label: "English" },
  { code: "fr", label: "Français" },
] as const;

export type Language = (typeof LANGUAGES)[number]["code"];

const catalogs: Record<Language, Messages> = { en, fr };

export const i18n = $state({ lang: "en" as Language });

export function isLanguage(code: string): code is Language {
  return code in catalogs;
}

/** Messages of the current language. */
export function t(): Messages {
  return catalogs[i18n.lang];
}

export function setLang(code: Language): void {
  i18n.lang = code;
  document.documentElement.lang = code;
}
