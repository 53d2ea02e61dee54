//! The staff pages as server-rendered HTML: no script, one small
//! stylesheet, readable on an old phone and printable. Each report is a
//! list of [`Table`]s, so what the page shows is what its CSV holds.

use maud::{DOCTYPE, Markup, html};

use super::table::{Cell, Table};
use super::words::{Lang, Words};
use crate::admin::EnrollCode;
use crate::catalog::CenterCourse;
use crate::report::{Grid, LaptopWarning, LearnerReport, Overview, QuizReport};
use crate::storage::{Center, DeviceInfo, StaffSession};

/// The stylesheet, served at [`super::STYLE_PATH`].
pub const STYLE: &str = include_str!("staff.css");

/// A page's frame: who is signed in, in which language, at which center.
pub struct Frame<'a> {
    /// The language.
    pub lang: Lang,
    /// The session, once signed in.
    pub session: Option<&'a StaffSession>,
    /// The center the page is about.
    pub center: Option<&'a Center>,
    /// The page's own path, for its CSV links and the language switch.
    pub path: &'a str,
}

impl Frame<'_> {
    fn words(&self) -> &'static Words {
        self.lang.words()
    }

    /// A whole page around `body`.
    pub fn page(&self, title: &str, body: Markup) -> Markup {
        let w = self.words();
        let other = self.lang.other();
        html! {
            (DOCTYPE)
            html lang=(self.lang.tag()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · " (w.hub) }
                    link rel="stylesheet" href=(super::STYLE_PATH);
                }
                body {
                    header {
                        a.brand href="/" { (w.hub) }
                        @if let Some(c) = self.center {
                            nav {
                                a href={ "/centers/" (c.id) } { (c.name) }
                                a href={ "/centers/" (c.id) "/laptops" } { (w.laptops) }
                                a href={ "/centers/" (c.id) "/hub-courses" } { (w.hub_courses) }
                            }
                        }
                        span.grow {}
                        a.lang href={ (self.path) "?lang=" (other.tag()) } lang=(other.tag()) { (other.words().language_name) }
                        @if let Some(s) = self.session {
                            span.who { (s.account.name) }
                            form.inline method="post" action="/signout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { (w.sign_out) }
                            }
                        }
                    }
                    main { h1 { (title) } (body) }
                }
            }
        }
    }

    /// Tables, each with its CSV link.
    pub fn tables(&self, tables: &[Table]) -> Markup {
        let w = self.words();
        html! { @for t in tables { (t.html(self.path, w.csv, w.no_data)) } }
    }

    /// A hidden field with the session's form token.
    fn csrf(&self) -> Markup {
        html! { @if let Some(s) = self.session { input type="hidden" name="csrf" value=(s.csrf); } }
    }
}

/// The sign-in page; `token` pairs the form with its cookie.
pub fn sign_in(f: &Frame, token: &str, error: Option<&str>) -> Markup {
    let w = f.words();
    f.page(
        w.sign_in,
        html! {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.card method="post" action="/signin" {
                input type="hidden" name="token" value=(token);
                label { (w.name) input name="name" autocomplete="username" required autofocus; }
                label { (w.password) input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { (w.sign_in) }
            }
        },
    )
}

/// The page that changes a password (and insists on it after a one-time one).
pub fn password(f: &Frame, error: Option<&str>) -> Markup {
    let w = f.words();
    let must = f.session.is_some_and(|s| s.account.must_change);
    f.page(
        w.change_password,
        html! {
            @if must { p.notice { (w.must_change) } }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.card method="post" action="/password" {
                (f.csrf())
                label { (w.current_password) input type="password" name="old" autocomplete="current-password" required; }
                label { (w.new_password) input type="password" name="new" autocomplete="new-password" minlength="10" required; }
                button type="submit" { (w.save) }
            }
        },
    )
}

/// An admin's list of centers.
pub fn centers(f: &Frame, centers: &[Center]) -> Vec<Table> {
    let w = f.words();
    vec![Table {
        id: "centers",
        caption: w.centers.into(),
        head: vec![w.name.into()],
        rows: centers.iter().map(|c| vec![Cell::link(&c.name, format!("/centers/{}", c.id))]).collect(),
    }]
}

/// A center's front page.
pub fn overview(f: &Frame, center: &Center, o: &Overview, held: &Held, now: i64) -> (Markup, Vec<Table>) {
    let w = f.words();
    let base = format!("/centers/{}", center.id);
    let intro = html! {
        p.stats {
            span { strong { (o.learners.len()) } " " (w.learners.to_lowercase()) }
            span { strong { (o.active_week) } " " (w.active_week.to_lowercase()) }
            span { strong { (o.laptops.len()) } " " (w.laptops.to_lowercase()) }
        }
        @let flagged: Vec<_> = o.laptops.iter().filter(|(_, ws)| !ws.is_empty()).collect();
        @if !flagged.is_empty() {
            ul.warnings role="status" { @for (d, ws) in flagged { li { strong { (d.name) } ": " (warning_text(w, ws)) } } }
        }
    };
    let learners = Table {
        id: "learners",
        caption: w.learners.into(),
        head: vec![w.name.into(), w.lessons_completed.into(), w.last_active.into()],
        rows: o
            .learners
            .iter()
            .map(|(id, name, done, last)| {
                vec![
                    Cell::link(name, format!("{base}/learners/{id}")),
                    Cell::text(done.to_string()),
                    Cell::text(last.map_or_else(|| w.never.to_owned(), time)),
                ]
            })
            .collect(),
    };
    let courses = Table {
        id: "courses",
        caption: w.courses.into(),
        head: vec![w.course.into(), w.started.into(), w.completion.into()],
        rows: o
            .courses
            .iter()
            .map(|(c, started, share)| {
                vec![
                    Cell::link(&c.title, format!("{base}/courses/{}", c.pack_id)),
                    Cell::text(started.to_string()),
                    Cell::text(percent(*share)),
                ]
            })
            .collect(),
    };
    let laptops = laptop_table(w, &o.laptops.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(), now, held);
    (intro, vec![learners, courses, laptops])
}

fn warning_text(w: &Words, warnings: &[LaptopWarning]) -> String {
    warnings
        .iter()
        .map(|x| match x {
            LaptopWarning::Quiet(days) => w.quiet_for.replace("{}", &days.to_string()),
            LaptopWarning::ClockOff(min) => w.clock_off_by.replace("{}", &min.to_string()),
            LaptopWarning::NeverSeen => w.never_synced.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The courses each laptop holds, as `pack@version`, by device id.
pub type Held = std::collections::HashMap<String, Vec<String>>;

/// The laptops table, with the courses each holds.
fn laptop_table(w: &Words, devices: &[DeviceInfo], now: i64, held: &Held) -> Table {
    Table {
        id: "laptops",
        caption: w.laptops.into(),
        head: vec![
            w.name.into(),
            w.last_contact.into(),
            w.clock_offset.into(),
            w.events_held.into(),
            w.enrolled.into(),
            w.revoked.into(),
            w.courses_held.into(),
            w.warnings.into(),
        ],
        rows: devices
            .iter()
            .map(|d| {
                let warnings = crate::report::warnings(d, now);
                vec![
                    Cell::text(&d.name),
                    Cell::text(d.last_seen_at.map_or_else(|| w.never.to_owned(), time)),
                    Cell::text(d.clock_offset_ms.map_or_else(String::new, |o| format!("{:+} s", o / 1000))),
                    Cell::text(d.events.to_string()),
                    Cell::text(time(d.enrolled_at)),
                    Cell::text(d.revoked_at.map_or_else(String::new, time)),
                    Cell::text(held.get(&d.id).map(|p| p.join(" ")).unwrap_or_default()),
                    if warnings.is_empty() {
                        Cell::text("")
                    } else {
                        Cell::styled(warning_text(w, &warnings), "warn")
                    },
                ]
            })
            .collect(),
    }
}

/// A course's grid.
pub fn course(f: &Frame, center: &Center, g: &Grid) -> (Markup, Vec<Table>) {
    let w = f.words();
    let base = format!("/centers/{}", center.id);
    let intro = html! { @if !g.course.known { p.notice { (w.pack_not_held) } } };
    let mut head = vec![w.learner.to_owned()];
    head.extend(g.course.lessons.iter().map(|l| l.title.clone()));
    let grid = Table {
        id: "grid",
        caption: w.learners.into(),
        head,
        rows: g
            .rows
            .iter()
            .map(|(id, name, cells)| {
                let mut row = vec![Cell::link(name, format!("{base}/learners/{id}"))];
                row.extend(cells.iter().map(|p| {
                    let (state, class) = if p.completed {
                        (w.completed, "done")
                    } else if p.opened || p.attempts > 0 {
                        (w.in_progress, "doing")
                    } else {
                        (w.not_started, "todo")
                    };
                    let mut text = state.to_owned();
                    if let Some(b) = p.best {
                        text.push_str(&format!(" · {}/{}", b.score, b.max));
                        if p.mastered {
                            text.push_str(&format!(" · {}", w.mastered));
                        }
                    }
                    Cell::styled(text, class)
                }));
                row
            })
            .collect(),
    };
    let lessons = Table {
        id: "lessons",
        caption: w.lessons.into(),
        head: vec![w.lesson.into(), w.completed_share.into(), w.average_time.into(), w.quiz.into()],
        rows: g
            .course
            .lessons
            .iter()
            .zip(&g.per_lesson)
            .map(|(l, (share, avg))| {
                vec![
                    Cell::text(&l.title),
                    Cell::text(percent(*share)),
                    Cell::text(avg.map_or_else(String::new, duration)),
                    if l.quiz {
                        Cell::link(w.quiz, format!("{base}/courses/{}/quizzes/{}", g.course.pack_id, l.id))
                    } else {
                        Cell::text("")
                    },
                ]
            })
            .collect(),
    };
    (intro, vec![grid, lessons])
}

/// A quiz's scores and difficult questions.
pub fn quiz(f: &Frame, center: &Center, q: &QuizReport) -> (Markup, Vec<Table>) {
    let w = f.words();
    let base = format!("/centers/{}", center.id);
    let intro = html! {
        p { a href={ (base) "/courses/" (q.course.pack_id) } { (q.course.title) } }
        @if !q.course.known { p.notice { (w.pack_not_held) } }
    };
    let scores = Table {
        id: "scores",
        caption: w.learners.into(),
        head: vec![w.learner.into(), w.best_score.into(), w.attempts.into(), w.mastered.into()],
        rows: q
            .learners
            .iter()
            .map(|(id, name, best, attempts)| {
                vec![
                    Cell::link(name, format!("{base}/learners/{id}")),
                    Cell::text(best.map_or_else(String::new, |b| format!("{}/{}", b.score, b.max))),
                    Cell::text(attempts.to_string()),
                    Cell::text(
                        if best.is_some_and(|b| {
                            b.max > 0
                                && f64::from(b.score) / f64::from(b.max)
                                    >= kalamu_core::progress::views::MASTERY
                        }) {
                            "✓"
                        } else {
                            ""
                        },
                    ),
                ]
            })
            .collect(),
    };
    let difficult = Table {
        id: "difficult",
        caption: w.difficult_questions.into(),
        head: vec![w.question.into(), w.got_it_wrong.into(), w.answered.into(), w.common_wrong.into()],
        rows: q
            .items
            .iter()
            .map(|i| {
                vec![
                    Cell::text(&i.prompt),
                    Cell::text(percent(i.wrong_share())),
                    Cell::text(i.answered.to_string()),
                    Cell::text(
                        i.common_wrong
                            .iter()
                            .map(|(a, n)| format!("{a} (×{n})"))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ]
            })
            .collect(),
    };
    (intro, vec![scores, difficult])
}

/// A learner's progress and timeline.
pub fn learner(f: &Frame, center: &Center, r: &LearnerReport) -> (Markup, Vec<Table>) {
    let w = f.words();
    let base = format!("/centers/{}", center.id);
    let intro = html! {
        p.stats {
            span { (w.time_spent) ": " strong { (duration(r.seconds)) } }
            span { (w.last_active) ": " strong { (r.last_at.map_or_else(|| w.never.to_owned(), time)) } }
        }
    };
    let courses = Table {
        id: "courses",
        caption: w.courses.into(),
        head: vec![w.course.into(), w.lessons_completed.into(), w.time_spent.into()],
        rows: r
            .courses
            .iter()
            .map(|(c, done, total, seconds)| {
                vec![
                    Cell::link(&c.title, format!("{base}/courses/{}", c.pack_id)),
                    Cell::text(format!("{done}/{total}")),
                    Cell::text(duration(*seconds)),
                ]
            })
            .collect(),
    };
    let timeline = Table {
        id: "timeline",
        caption: w.timeline.into(),
        head: vec![w.day.into(), w.from_to.into(), w.lesson.into(), w.what.into(), w.laptop.into()],
        rows: r
            .timeline
            .iter()
            .map(|(a, device, lesson)| {
                let mut what = vec![format!("{} {}", a.events, w.events)];
                if a.completed > 0 {
                    what.push(w.completed.into());
                }
                if a.attempts > 0 {
                    what.push(format!("{} {}", a.attempts, w.attempts.to_lowercase()));
                }
                if a.seconds > 0 {
                    what.push(duration(a.seconds));
                }
                let laptop = device.as_ref().map_or_else(|| a.device_id.clone(), |d| d.name.clone());
                let off = device.as_ref().is_some_and(DeviceInfo::clock_is_off);
                vec![
                    Cell::text(time(a.first_at)[..10].to_owned()),
                    Cell::text(format!("{}–{}", &time(a.first_at)[11..], &time(a.last_at)[11..])),
                    Cell::text(&lesson.title),
                    Cell::text(what.join(", ")),
                    if off {
                        Cell::styled(format!("{laptop} ({})", w.clock_was_off), "warn")
                    } else {
                        Cell::text(laptop)
                    },
                ]
            })
            .collect(),
    };
    (intro, vec![courses, timeline])
}

/// The laptops page: the table, a revoke button per live laptop, and the code form.
pub fn laptops(
    f: &Frame,
    center: &Center,
    devices: &[DeviceInfo],
    held: &Held,
    now: i64,
    code: Option<&EnrollCode>,
) -> (Markup, Vec<Table>) {
    let w = f.words();
    let base = format!("/centers/{}", center.id);
    let table = laptop_table(w, devices, now, held);
    let live: Vec<&DeviceInfo> = devices.iter().filter(|d| d.revoked_at.is_none()).collect();
    let intro = html! {
        @if let Some(c) = code {
            section.code aria-live="polite" {
                p { (w.code_for_room) }
                p.big { (c.code) }
                p { (w.code_valid) " " (time(c.expires_at)) " UTC" }
            }
        }
        form.card.noprint method="post" action={ (base) "/codes" } {
            (f.csrf())
            label { (w.code_valid) " (" (w.minutes) ")" input type="number" name="minutes" value="60" min="5" max="1440"; }
            button type="submit" { (w.make_code) }
        }
        @if !live.is_empty() {
            details.noprint {
                summary { (w.revoke) "…" }
                p { (w.revoke_confirm) }
                @for d in live {
                    form.inline method="post" action={ (base) "/laptops/" (d.id) "/revoke" } {
                        (f.csrf())
                        button.danger type="submit" { (w.revoke) " " (d.name) }
                    }
                }
            }
        }
    };
    (intro, vec![table])
}

/// The courses on the hub for a center: each one's version, size and
/// signer, whether the center requires it (with a button to change that),
/// and how many of its laptops hold it.
pub fn hub_courses(f: &Frame, center: &Center, courses: &[CenterCourse]) -> (Markup, Vec<Table>) {
    let w = f.words();
    let base = format!("/centers/{}", center.id);
    let intro = html! {
        @if courses.is_empty() { p.notice { (w.no_courses_published) } }
        @for c in courses {
            form.inline.noprint method="post" action={ (base) "/hub-courses/" (c.entry.id) "/required" } {
                (f.csrf())
                input type="hidden" name="required" value=(if c.entry.required { "0" } else { "1" });
                button type="submit" {
                    (if c.entry.required { w.no_longer_require } else { w.require }) ": " (c.entry.title)
                }
            }
        }
    };
    let table = Table {
        id: "hub-courses",
        caption: w.hub_courses.into(),
        head: vec![
            w.course.into(),
            w.version.into(),
            w.size.into(),
            w.required.into(),
            w.with_this_version.into(),
            w.with_older_version.into(),
        ],
        rows: courses
            .iter()
            .map(|c| {
                vec![
                    Cell::link(&c.entry.title, format!("{base}/courses/{}", c.entry.id)),
                    Cell::text(&c.entry.version),
                    Cell::text(format!("{:.1} MB", c.entry.bytes as f64 / 1e6)),
                    Cell::text(if c.entry.required { w.yes } else { "" }),
                    Cell::text(format!("{} / {}", c.current, c.laptops)),
                    Cell::text(c.older.to_string()),
                ]
            })
            .collect(),
    };
    (intro, vec![table])
}

/// An error page with what went wrong and a way back.
pub fn error(f: &Frame, message: &str) -> Markup {
    let w = f.words();
    f.page(w.refused, html! { p.error role="alert" { (message) } p { a href="/" { (w.back) } } })
}

/// A page's intro and tables, in its frame.
pub fn report(f: &Frame, title: &str, intro: Markup, tables: &[Table]) -> Markup {
    f.page(title, html! { (intro) (f.tables(tables)) })
}

/// `ms` since 1970 as `YYYY-MM-DD HH:MM` (UTC).
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rest / 3600, rest % 3600 / 60)
}

/// Seconds as `1 h 05 min` or `12 min`.
pub fn duration(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60);
    if minutes >= 60 {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    }
}

fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(time(0), "1970-01-01 00:00");
        assert_eq!(time(1_796_212_800_000), "2026-12-02 12:00");
        assert_eq!(duration(59), "1 min");
        assert_eq!(duration(3_900), "1 h 05 min");
    }
}
