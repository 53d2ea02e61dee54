//! The staff pages' words in English and French. One struct, so a word
//! missing in one language does not compile.

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The language a request asks for: `?lang=`, then the cookie, then `Accept-Language`.
    pub fn choose(query: Option<&str>, cookie: Option<&str>, accept: Option<&str>) -> Lang {
        if let Some(l) = query.or(cookie).and_then(Lang::parse) {
            return l;
        }
        // The first of the listed languages that the pages speak, by weight.
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.unwrap_or("").split(',') {
            let mut bits = part.split(';');
            let tag = bits.next().unwrap_or("").trim();
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(l) = Lang::parse(tag.split('-').next().unwrap_or(""))
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    fn parse(tag: &str) -> Option<Lang> {
        match tag.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// Its tag, for `lang=` and links.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Fr,
            Lang::Fr => Lang::En,
        }
    }

    /// Its words.
    pub fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }
}

/// Every fixed word of the staff pages.
#[allow(missing_docs)] // each field is named for the words it holds
pub struct Words {
    /// The switch's label, in its own language.
    pub language_name: &'static str,
    pub hub: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub name: &'static str,
    pub password: &'static str,
    pub change_password: &'static str,
    pub must_change: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub save: &'static str,
    pub centers: &'static str,
    pub overview: &'static str,
    pub learners: &'static str,
    pub learner: &'static str,
    pub active_week: &'static str,
    pub courses: &'static str,
    pub course: &'static str,
    pub laptops: &'static str,
    pub laptop: &'static str,
    pub last_contact: &'static str,
    pub never: &'static str,
    pub clock_offset: &'static str,
    pub events_held: &'static str,
    pub enrolled: &'static str,
    pub revoked: &'static str,
    pub revoke: &'static str,
    pub warnings: &'static str,
    pub started: &'static str,
    pub completion: &'static str,
    pub lessons_completed: &'static str,
    pub last_active: &'static str,
    pub lesson: &'static str,
    pub lessons: &'static str,
    pub completed_share: &'static str,
    pub average_time: &'static str,
    pub not_started: &'static str,
    pub in_progress: &'static str,
    pub completed: &'static str,
    pub mastered: &'static str,
    pub quiz: &'static str,
    pub best_score: &'static str,
    pub attempts: &'static str,
    pub difficult_questions: &'static str,
    pub question: &'static str,
    pub got_it_wrong: &'static str,
    pub answered: &'static str,
    pub common_wrong: &'static str,
    pub time_spent: &'static str,
    pub timeline: &'static str,
    pub day: &'static str,
    pub from_to: &'static str,
    pub what: &'static str,
    pub clock_was_off: &'static str,
    pub csv: &'static str,
    pub new_code: &'static str,
    pub code_for_room: &'static str,
    pub code_valid: &'static str,
    pub minutes: &'static str,
    pub make_code: &'static str,
    pub pack_not_held: &'static str,
    pub no_learners: &'static str,
    pub no_data: &'static str,
    pub back: &'static str,
    pub refused: &'static str,
    pub quiet_for: &'static str,
    pub clock_off_by: &'static str,
    pub never_synced: &'static str,
    pub revoke_confirm: &'static str,
    pub opened: &'static str,
    pub events: &'static str,
    pub hub_courses: &'static str,
    pub version: &'static str,
    pub size: &'static str,
    pub required: &'static str,
    pub require: &'static str,
    pub no_longer_require: &'static str,
    pub with_this_version: &'static str,
    pub with_older_version: &'static str,
    pub courses_held: &'static str,
    pub yes: &'static str,
    pub no_courses_published: &'static str,
}

/// English.
pub static EN: Words = Words {
    language_name: "English",
    hub: "Kalamu hub",
    sign_in: "Sign in",
    sign_out: "Sign out",
    name: "Name",
    password: "Password",
    change_password: "Change password",
    must_change: "This is a one-time password. Choose your own to go on.",
    current_password: "Current password",
    new_password: "New password (at least 10 characters)",
    save: "Save",
    centers: "Centers",
    overview: "Overview",
    learners: "Learners",
    learner: "Learner",
    active_week: "Active in the last 7 days",
    courses: "Courses",
    course: "Course",
    laptops: "Laptops",
    laptop: "Laptop",
    last_contact: "Last contact",
    never: "never",
    clock_offset: "Clock offset",
    events_held: "Events held",
    enrolled: "Enrolled",
    revoked: "Revoked",
    revoke: "Revoke",
    warnings: "Warnings",
    started: "Learners who started",
    completion: "Completion",
    lessons_completed: "Lessons completed",
    last_active: "Last active",
    lesson: "Lesson",
    lessons: "Lessons",
    completed_share: "Completed by",
    average_time: "Average time",
    not_started: "not started",
    in_progress: "in progress",
    completed: "completed",
    mastered: "mastered",
    quiz: "Quiz",
    best_score: "Best score",
    attempts: "Attempts",
    difficult_questions: "Difficult questions",
    question: "Question",
    got_it_wrong: "Got it wrong",
    answered: "Answered",
    common_wrong: "Most common wrong answers",
    time_spent: "Time spent",
    timeline: "Activity",
    day: "Day",
    from_to: "Time (UTC)",
    what: "What",
    clock_was_off: "this laptop's clock is off",
    csv: "CSV",
    new_code: "Enrolment code",
    code_for_room: "Read this code out to the room; it enrols one laptop.",
    code_valid: "Valid until",
    minutes: "minutes",
    make_code: "Make an enrolment code",
    pack_not_held: "The hub does not hold this pack, so lessons show by id. Publish it with `kalamu hub publish FILE.kpack` for titles and questions.",
    no_learners: "No learners yet.",
    no_data: "Nothing yet.",
    back: "Back",
    refused: "Refused",
    quiet_for: "no sync for {} days",
    clock_off_by: "clock off by {} min",
    never_synced: "never synced",
    revoke_confirm: "The laptop will no longer sync. It can come back only as a new laptop.",
    opened: "opened",
    events: "events",
    hub_courses: "Courses on this hub",
    version: "Version",
    size: "Size",
    required: "Required",
    require: "Require",
    no_longer_require: "No longer require",
    with_this_version: "Laptops with this version",
    with_older_version: "With an older version",
    courses_held: "Courses held",
    yes: "yes",
    no_courses_published: "No course is published on this hub yet (kalamu hub publish).",
};

/// French.
pub static FR: Words = Words {
    language_name: "Français",
    hub: "Hub Kalamu",
    sign_in: "Se connecter",
    sign_out: "Se déconnecter",
    name: "Nom",
    password: "Mot de passe",
    change_password: "Changer de mot de passe",
    must_change: "Ce mot de passe ne sert qu'une fois. Choisissez le vôtre pour continuer.",
    current_password: "Mot de passe actuel",
    new_password: "Nouveau mot de passe (10 caractères au moins)",
    save: "Enregistrer",
    centers: "Centres",
    overview: "Vue d'ensemble",
    learners: "Apprenants",
    learner: "Apprenant",
    active_week: "Actifs ces 7 derniers jours",
    courses: "Cours",
    course: "Cours",
    laptops: "Ordinateurs",
    laptop: "Ordinateur",
    last_contact: "Dernier contact",
    never: "jamais",
    clock_offset: "Décalage d'horloge",
    events_held: "Événements reçus",
    enrolled: "Inscrit le",
    revoked: "Retiré",
    revoke: "Retirer",
    warnings: "Alertes",
    started: "Apprenants ayant commencé",
    completion: "Achèvement",
    lessons_completed: "Leçons terminées",
    last_active: "Dernière activité",
    lesson: "Leçon",
    lessons: "Leçons",
    completed_share: "Terminée par",
    average_time: "Temps moyen",
    not_started: "pas commencée",
    in_progress: "en cours",
    completed: "terminée",
    mastered: "maîtrisée",
    quiz: "Quiz",
    best_score: "Meilleur score",
    attempts: "Tentatives",
    difficult_questions: "Questions difficiles",
    question: "Question",
    got_it_wrong: "Se sont trompés",
    answered: "Ont répondu",
    common_wrong: "Mauvaises réponses les plus fréquentes",
    time_spent: "Temps passé",
    timeline: "Activité",
    day: "Jour",
    from_to: "Heure (UTC)",
    what: "Quoi",
    clock_was_off: "l'horloge de cet ordinateur est décalée",
    csv: "CSV",
    new_code: "Code d'inscription",
    code_for_room: "Lisez ce code à voix haute ; il inscrit un ordinateur.",
    code_valid: "Valable jusqu'à",
    minutes: "minutes",
    make_code: "Créer un code d'inscription",
    pack_not_held: "Le hub n'a pas ce paquet : les leçons apparaissent par identifiant. Publiez-le avec `kalamu hub publish FICHIER.kpack` pour voir titres et questions.",
    no_learners: "Pas encore d'apprenants.",
    no_data: "Rien pour l'instant.",
    back: "Retour",
    refused: "Refusé",
    quiet_for: "pas de synchronisation depuis {} jours",
    clock_off_by: "horloge décalée de {} min",
    never_synced: "jamais synchronisé",
    revoke_confirm: "L'ordinateur ne se synchronisera plus. Il ne pourra revenir que comme nouvel ordinateur.",
    opened: "ouverte",
    events: "événements",
    hub_courses: "Cours sur ce hub",
    version: "Version",
    size: "Taille",
    required: "Obligatoire",
    require: "Rendre obligatoire",
    no_longer_require: "Ne plus rendre obligatoire",
    with_this_version: "Ordinateurs avec cette version",
    with_older_version: "Avec une version plus ancienne",
    courses_held: "Cours présents",
    yes: "oui",
    no_courses_published: "Aucun cours n'est publié sur ce hub (kalamu hub publish).",
};
