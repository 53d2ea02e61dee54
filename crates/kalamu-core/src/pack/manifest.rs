//! The pack manifest: identity, modules → lessons, quizzes, and every
//! file's path, size and BLAKE3 hash. The publisher signs its exact bytes.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{
    FORMAT_VERSION, MANIFEST_NAME, MAX_FILE_BYTES, MAX_FILES, MAX_PACK_BYTES, Problem, SIGNATURE_NAME, path,
};

/// A pack's manifest, as stored at `kalamu-manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Pack format version; see [`FORMAT_VERSION`].
    pub format: u32,
    /// Stable id, e.g. `org.kalamu.samples.networks-intro`.
    pub id: String,
    /// Semantic version; a higher one upgrades an installed pack.
    pub version: String,
    /// Title shown to learners.
    pub title: String,
    /// A sentence or two shown in the library.
    #[serde(default)]
    pub description: String,
    /// Language of the content (BCP 47 tag).
    pub language: String,
    /// Who made the pack.
    pub publisher: String,
    /// Licence of the content (SPDX id or text).
    #[serde(default)]
    pub licence: String,
    /// Modules in order.
    pub modules: Vec<Module>,
    /// Every file in the pack.
    pub files: Vec<FileEntry>,
}

/// A module: a titled, ordered group of lessons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// Id, unique in the pack.
    pub id: String,
    /// Title.
    pub title: String,
    /// Lessons in order.
    pub lessons: Vec<Lesson>,
}

/// A lesson: an HTML page, a quiz, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// Id, unique in the pack; progress is recorded against it.
    pub id: String,
    /// Title.
    pub title: String,
    /// Path of the lesson's HTML entry file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// The lesson's quiz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiz: Option<Quiz>,
}

/// A quiz: items in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quiz {
    /// Items in order.
    pub items: Vec<QuizItem>,
    /// Share of items right (0–1] at which the lesson counts as done; [`DEFAULT_PASS_MARK`] if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_mark: Option<f64>,
}

/// The pass mark of a quiz whose publisher set none.
pub const DEFAULT_PASS_MARK: f64 = 0.6;

/// One quiz question with its answer and feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct QuizItem {
    /// Id, unique in the quiz.
    pub id: String,
    /// The question.
    pub prompt: String,
    /// The kind of answer and the correct one.
    #[serde(flatten)]
    pub kind: QuizKind,
    /// Shown after a correct answer.
    #[serde(default)]
    pub feedback_correct: String,
    /// Shown after a wrong answer.
    #[serde(default)]
    pub feedback_incorrect: String,
}

/// A quiz item's fields as read, before they are checked against its type.
#[derive(Deserialize)]
struct QuizItemFields {
    id: String,
    prompt: String,
    #[serde(flatten)]
    kind: QuizKind,
    #[serde(default)]
    feedback_correct: String,
    #[serde(default)]
    feedback_incorrect: String,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for QuizItem {
    type Error = String;

    /// Refuses fields the item's type does not have, which serde cannot do
    /// through `flatten`: a misspelt `feedback_corect` or a `tolerance` on a
    /// text item would otherwise be dropped without a word.
    fn try_from(fields: serde_json::Map<String, serde_json::Value>) -> Result<QuizItem, String> {
        const COMMON: &[&str] = &["id", "prompt", "type", "feedback_correct", "feedback_incorrect"];
        let kind = fields.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_owned();
        let own: &[&str] = match kind.as_str() {
            "single" => &["choices", "answer"],
            "multiple" => &["choices", "answers"],
            "numeric" => &["answer", "tolerance"],
            "text" => &["answers"],
            _ => {
                let id = fields.get("id").and_then(|i| i.as_str()).unwrap_or("?");
                return Err(format!(
                    "quiz item {id} has the type {kind:?}; it must be single, multiple, numeric or text"
                ));
            }
        };
        if let Some(unknown) =
            fields.keys().find(|k| !COMMON.contains(&k.as_str()) && !own.contains(&k.as_str()))
        {
            let id = fields.get("id").and_then(|i| i.as_str()).unwrap_or("?");
            return Err(format!("quiz item {id} ({kind}) has an unknown field `{unknown}`"));
        }
        let f: QuizItemFields =
            serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| e.to_string())?;
        Ok(QuizItem {
            id: f.id,
            prompt: f.prompt,
            kind: f.kind,
            feedback_correct: f.feedback_correct,
            feedback_incorrect: f.feedback_incorrect,
        })
    }
}

/// The kinds of quiz item and their correct answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum QuizKind {
    /// Exactly one correct choice.
    Single {
        /// Choices in order.
        choices: Vec<String>,
        /// Index of the correct choice.
        answer: usize,
    },
    /// One or more correct choices.
    Multiple {
        /// Choices in order.
        choices: Vec<String>,
        /// Indexes of every correct choice.
        answers: Vec<usize>,
    },
    /// A number, right within a tolerance.
    Numeric {
        /// The correct value.
        answer: f64,
        /// Accepted distance from it.
        #[serde(default)]
        tolerance: f64,
    },
    /// Free text, compared without case and surrounding spaces.
    Text {
        /// Every accepted answer.
        answers: Vec<String>,
    },
}

/// One file of the pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the pack.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 hash of the content, lowercase hex.
    pub blake3: String,
    /// Media type, derived from the path's extension.
    pub media_type: String,
}

impl Manifest {
    /// Parses and validates manifest bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, Problem> {
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        // Report an unknown format as such rather than as a field mismatch.
        if let Ok(Format { format }) = serde_json::from_slice::<Format>(bytes)
            && format != FORMAT_VERSION
        {
            return Err(Problem::UnsupportedFormat(format));
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Problem::InvalidManifest(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The canonical bytes that are stored and signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest always serializes")
    }

    /// The parsed semantic version.
    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).expect("validated manifests have a semantic version")
    }

    /// Total content bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The entry for `path`, if listed.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Number of lessons in all modules.
    pub fn lesson_count(&self) -> usize {
        self.modules.iter().map(|m| m.lessons.len()).sum()
    }

    /// Checks every rule of the format that the manifest alone can show.
    pub fn validate(&self) -> Result<(), Problem> {
        let bad = |msg: String| Err(Problem::InvalidManifest(msg));
        if self.format != FORMAT_VERSION {
            return Err(Problem::UnsupportedFormat(self.format));
        }
        if !valid_id(&self.id, true) {
            return bad(format!("id {:?} must be 3–100 characters of a–z, 0–9, '.', '-' or '_'", self.id));
        }
        if semver::Version::parse(&self.version).is_err() {
            return bad(format!("version {:?} is not a semantic version like 1.2.0", self.version));
        }
        for (field, value, max) in [
            ("title", &self.title, 200),
            ("publisher", &self.publisher, 200),
            ("language", &self.language, 35),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                return bad(format!("{field} must be 1–{max} characters"));
            }
        }
        if !self.language.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return bad(format!("language {:?} is not a language tag like en or fr-GN", self.language));
        }
        if self.description.chars().count() > 2000 {
            return bad("description is longer than 2000 characters".into());
        }
        self.validate_files()?;
        self.validate_modules()
    }

    fn validate_files(&self) -> Result<(), Problem> {
        if self.files.len() > MAX_FILES {
            return Err(Problem::TooLarge {
                what: "the number of files".into(),
                limit: MAX_FILES.to_string(),
            });
        }
        let mut seen = HashSet::new();
        let mut total: u64 = 0;
        for f in &self.files {
            path::check(&f.path)?;
            if f.path == MANIFEST_NAME || f.path == SIGNATURE_NAME {
                return Err(Problem::InvalidManifest(format!("{} is a reserved name", f.path)));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(Problem::InvalidManifest(format!("{} is listed twice", f.path)));
            }
            if f.size > MAX_FILE_BYTES {
                return Err(Problem::TooLarge {
                    what: f.path.clone(),
                    limit: format!("{MAX_FILE_BYTES} bytes"),
                });
            }
            total = total.saturating_add(f.size);
            if f.blake3.len() != 64
                || !f.blake3.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(Problem::InvalidManifest(format!("{} has a malformed hash", f.path)));
            }
            if f.media_type != media_type_for(&f.path) {
                return Err(Problem::InvalidManifest(format!(
                    "{} is listed as {} but its name says {}",
                    f.path,
                    f.media_type,
                    media_type_for(&f.path)
                )));
            }
        }
        if total > MAX_PACK_BYTES {
            return Err(Problem::TooLarge {
                what: "the pack's content".into(),
                limit: format!("{MAX_PACK_BYTES} bytes"),
            });
        }
        path::case_collision(self.files.iter().map(|f| f.path.as_str()))
    }

    fn validate_modules(&self) -> Result<(), Problem> {
        let bad = |msg: String| Err(Problem::InvalidManifest(msg));
        if self.modules.is_empty() {
            return bad("the pack has no modules".into());
        }
        let mut module_ids = HashSet::new();
        let mut lesson_ids = HashSet::new();
        for m in &self.modules {
            if !valid_id(&m.id, false) || !module_ids.insert(m.id.as_str()) {
                return bad(format!("module id {:?} is malformed or repeated", m.id));
            }
            if m.title.trim().is_empty() || m.lessons.is_empty() {
                return bad(format!("module {} needs a title and at least one lesson", m.id));
            }
            for l in &m.lessons {
                if !valid_id(&l.id, false) || !lesson_ids.insert(l.id.as_str()) {
                    return bad(format!("lesson id {:?} is malformed or repeated", l.id));
                }
                if l.title.trim().is_empty() {
                    return bad(format!("lesson {} has no title", l.id));
                }
                match (&l.entry, &l.quiz) {
                    (None, None) => {
                        return bad(format!("lesson {} has neither an entry page nor a quiz", l.id));
                    }
                    (Some(entry), _) => match self.file(entry) {
                        Some(f) if f.media_type == "text/html" => {}
                        Some(_) => {
                            return bad(format!("lesson {}'s entry {entry} is not an HTML file", l.id));
                        }
                        None => {
                            return bad(format!("lesson {}'s entry {entry} is not listed in files", l.id));
                        }
                    },
                    _ => {}
                }
                if let Some(quiz) = &l.quiz {
                    quiz.validate()
                        .map_err(|msg| Problem::InvalidManifest(format!("lesson {}: {msg}", l.id)))?;
                }
            }
        }
        Ok(())
    }
}

impl Quiz {
    /// The share of items right at which the lesson counts as done.
    pub fn pass_mark(&self) -> f64 {
        self.pass_mark.unwrap_or(DEFAULT_PASS_MARK)
    }

    /// Checks that every item can be answered correctly.
    pub fn validate(&self) -> Result<(), String> {
        if self.items.is_empty() {
            return Err("the quiz has no items".into());
        }
        if let Some(mark) = self.pass_mark
            && !(mark > 0.0 && mark <= 1.0)
        {
            return Err(format!("the quiz's pass_mark is {mark}; it must be more than 0 and at most 1"));
        }
        let mut ids = HashSet::new();
        for item in &self.items {
            if !valid_id(&item.id, false) || !ids.insert(item.id.as_str()) {
                return Err(format!("quiz item id {:?} is malformed or repeated", item.id));
            }
            if item.prompt.trim().is_empty() {
                return Err(format!("quiz item {} has no prompt", item.id));
            }
            item.kind.validate().map_err(|msg| format!("quiz item {}: {msg}", item.id))?;
        }
        Ok(())
    }
}

impl QuizKind {
    fn validate(&self) -> Result<(), String> {
        let choices_ok = |choices: &[String]| {
            if choices.len() < 2 || choices.iter().any(|c| c.trim().is_empty()) {
                Err("needs at least two non-empty choices".to_string())
            } else {
                Ok(())
            }
        };
        match self {
            QuizKind::Single { choices, answer } => {
                choices_ok(choices)?;
                if *answer >= choices.len() {
                    return Err(format!("has no correct answer (answer {answer} is not one of its choices)"));
                }
            }
            QuizKind::Multiple { choices, answers } => {
                choices_ok(choices)?;
                if answers.is_empty() {
                    return Err("has no correct answer".into());
                }
                let unique: HashSet<_> = answers.iter().collect();
                if unique.len() != answers.len() || answers.iter().any(|a| *a >= choices.len()) {
                    return Err("lists an answer twice or one that is not among its choices".into());
                }
            }
            QuizKind::Numeric { answer, tolerance } => {
                if !answer.is_finite() || !tolerance.is_finite() || *tolerance < 0.0 {
                    return Err("needs a finite answer and a non-negative tolerance".into());
                }
            }
            QuizKind::Text { answers } => {
                if answers.is_empty() {
                    return Err("has no correct answer".into());
                }
                // A blank accepted answer would mark an empty response correct.
                if answers.iter().any(|a| a.trim().is_empty()) {
                    return Err("lists a blank accepted answer".into());
                }
            }
        }
        Ok(())
    }
}

fn valid_id(id: &str, dots: bool) -> bool {
    let len_ok = if dots { (3..=100).contains(&id.len()) } else { (1..=100).contains(&id.len()) };
    len_ok
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || (dots && b == b'.')
        })
}

/// The media type a pack file has, from its extension.
pub fn media_type_for(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "txt" => "text/plain",
        "vtt" => "text/vtt",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "webm" => "video/webm",
        "mp4" | "m4v" => "video/mp4",
        "ogv" => "video/ogg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => "application/octet-stream",
    }
}
