//! The staff's side of the hub, in any browser: sign-in, the center's
//! reports, its laptops and enrolment codes, and every table as CSV.
//!
//! Handlers are thin: read the request's language, cookie and form, then
//! one call of [`crate::staff`], [`crate::report`] or the storage, off the
//! async threads (storage writes and password hashes block), and a page.
//! Every form carries its session's token; a coach sees only their center.

pub mod csv;
pub mod pages;
pub mod table;
pub mod words;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kalamu_core::store::now_millis;
use maud::Markup;
use serde::Deserialize;

use crate::error::{HubError, Result};
use crate::staff::{self, SESSION_MS};
use crate::storage::{Center, StaffSession, Storage};
use crate::{admin, report};
use pages::Frame;
use table::Table;
use words::Lang;

/// Where the stylesheet is served.
pub const STYLE_PATH: &str = "/staff.css";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "kalamu_session";
/// The cookie that pairs the sign-in form with its browser.
pub const SIGNIN_COOKIE: &str = "kalamu_signin";
const LANG_COOKIE: &str = "kalamu_lang";

type Store = Arc<dyn Storage>;

/// The staff pages' routes.
pub fn routes() -> Router<Store> {
    Router::new()
        .route("/", get(home))
        .route(STYLE_PATH, get(style))
        .route("/signin", post(sign_in))
        .route("/signout", post(sign_out))
        .route("/password", get(password_page).post(change_password))
        .route("/centers/{center}", get(overview))
        .route("/centers/{center}/courses/{pack}", get(course))
        .route("/centers/{center}/courses/{pack}/quizzes/{lesson}", get(quiz))
        .route("/centers/{center}/learners/{learner}", get(learner))
        .route("/centers/{center}/laptops", get(laptops))
        .route("/centers/{center}/laptops/{device}/revoke", post(revoke))
        .route("/centers/{center}/codes", post(make_code))
        .route("/centers/{center}/hub-courses", get(hub_courses))
        .route("/centers/{center}/hub-courses/{pack}/required", post(set_required))
}

/// What every staff request brings: its language, cookies, path and address.
#[derive(Debug, Clone)]
pub struct Ctx {
    lang: Lang,
    /// `?lang=` asked for a language, which a cookie then remembers.
    chosen: bool,
    path: String,
    csv: Option<String>,
    session_cookie: Option<String>,
    signin_cookie: Option<String>,
    address: String,
    secure: bool,
}

#[derive(Deserialize, Default)]
struct PageQuery {
    lang: Option<String>,
    csv: Option<String>,
}

impl FromRequestParts<Store> for Ctx {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, _: &Store) -> Result<Ctx> {
        let query =
            axum::extract::Query::<PageQuery>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
        let cookie = |name: &str| cookie(&parts.headers, name);
        let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let lang = Lang::choose(query.lang.as_deref(), cookie(LANG_COOKIE).as_deref(), accept);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let address = crate::api::client_ip(&parts.headers, peer)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        // Behind a TLS proxy the session cookie must not travel in clear.
        let secure = parts.headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes() == b"https");
        Ok(Ctx {
            lang,
            chosen: query.lang.is_some(),
            path: parts.uri.path().to_owned(),
            csv: query.csv,
            session_cookie: cookie(SESSION_COOKIE),
            signin_cookie: cookie(SIGNIN_COOKIE),
            address,
            secure,
        })
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl Ctx {
    fn frame<'a>(&'a self, session: Option<&'a StaffSession>, center: Option<&'a Center>) -> Frame<'a> {
        Frame { lang: self.lang, session, center, path: &self.path }
    }

    fn cookie_line(&self, name: &str, value: &str, max_age: i64, http_only: bool) -> HeaderValue {
        let mut line = format!("{name}={value}; Path=/; SameSite=Strict; Max-Age={max_age}");
        if http_only {
            line.push_str("; HttpOnly");
        }
        if self.secure {
            line.push_str("; Secure");
        }
        HeaderValue::from_str(&line).expect("cookie values are hex")
    }

    /// The response, with the language cookie when `?lang=` chose one.
    fn finish(&self, mut response: Response) -> Response {
        if self.chosen {
            let line = self.cookie_line(LANG_COOKIE, self.lang.tag(), 365 * 24 * 3600, false);
            response.headers_mut().append(header::SET_COOKIE, line);
        }
        response
    }

    fn html(&self, status: StatusCode, markup: Markup) -> Response {
        let mut response = (status, markup.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        // No script runs on these pages, and no other site may frame them.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'",
            ),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
        self.finish(response)
    }

    /// A report page, or its table `?csv=` names as a CSV download.
    fn report(&self, f: &Frame, title: &str, intro: Markup, tables: Vec<Table>) -> Result<Response> {
        let Some(id) = &self.csv else {
            return Ok(self.html(StatusCode::OK, pages::report(f, title, intro, &tables)));
        };
        let table =
            tables.iter().find(|t| t.id == id).ok_or_else(|| HubError::NotFound(format!("table {id}")))?;
        let mut response = csv::write(table).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        let name = format!("attachment; filename=\"{}.csv\"", table.id);
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).expect("ids are ascii"));
        Ok(self.finish(response))
    }

    fn redirect(&self, to: &str) -> Response {
        let mut response = StatusCode::SEE_OTHER.into_response();
        response
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")));
        self.finish(response)
    }

    /// What a failed request shows: the sign-in page for no session, else a page that says why.
    fn failure(&self, session: Option<&StaffSession>, e: HubError) -> Response {
        match e {
            HubError::NotSignedIn => self.redirect("/"),
            e => self.html(e.status(), pages::error(&self.frame(session, None), &e.to_string())),
        }
    }

    /// The live session, if the request's cookie names one.
    fn session(&self, store: &dyn Storage) -> Result<Option<StaffSession>> {
        match &self.session_cookie {
            None => Ok(None),
            Some(c) => store.session(&staff::cookie_hash(c), now_millis()),
        }
    }

    /// Runs `f` off the async threads for a signed-in member whose password
    /// is their own; any failure becomes a page.
    async fn signed_in(
        self,
        store: Store,
        f: impl FnOnce(&dyn Storage, &Ctx, &StaffSession) -> Result<Response> + Send + 'static,
    ) -> Response {
        crate::api::blocking_page(move || {
            let session = match self.session(&*store) {
                Ok(Some(s)) => s,
                Ok(None) => return self.failure(None, HubError::NotSignedIn),
                Err(e) => return self.failure(None, e),
            };
            if session.account.must_change {
                return self.redirect("/password");
            }
            f(&*store, &self, &session).unwrap_or_else(|e| self.failure(Some(&session), e))
        })
        .await
    }

    /// A posted form's token must be its session's.
    fn check_form(session: &StaffSession, csrf: &str) -> Result<()> {
        if staff::form_token_holds(session, csrf) { Ok(()) } else { Err(HubError::BadCsrf) }
    }
}

/// Events a page folds into the reports before it reads them, at most: a
/// page is never more than this behind, and never holds the writer long.
const PAGE_FOLD: usize = 4 * crate::projection::STEP_EVENTS;

/// Brings the reports up to date as far as a page may; a failure leaves
/// them as they were, which the page still shows.
fn fresh(store: &dyn Storage) {
    if let Err(e) = store.project(PAGE_FOLD) {
        tracing::error!("the staff reports could not be brought up to date: {e}");
    }
}

/// A center the session may see, by id; a coach asking for another (or
/// for one that does not exist) is refused alike.
fn center_for(store: &dyn Storage, session: &StaffSession, id: &str) -> Result<Center> {
    let center = match store.center(id) {
        Ok(c) if c.id == id => c,
        Ok(_) | Err(HubError::NoSuchCenter(_)) if session.account.center_id.is_some() => {
            return Err(HubError::NotYourCenter);
        }
        Ok(_) => return Err(HubError::NoSuchCenter(id.to_owned())),
        Err(e) => return Err(e),
    };
    if !session.account.may_see(&center.id) {
        return Err(HubError::NotYourCenter);
    }
    Ok(center)
}

async fn style() -> Response {
    let mut response = pages::STYLE.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
    response
}

/// The hub's root: the sign-in page, or where a signed-in member belongs.
async fn home(State(store): State<Store>, ctx: Ctx) -> Response {
    crate::api::blocking_page(move || match ctx.session(&*store) {
        Ok(Some(s)) if s.account.must_change => ctx.redirect("/password"),
        Ok(Some(s)) => match &s.account.center_id {
            Some(center) => ctx.redirect(&format!("/centers/{center}")),
            None => match store.centers() {
                Ok(centers) => {
                    let f = ctx.frame(Some(&s), None);
                    let tables = pages::centers(&f, &centers);
                    ctx.report(&f, ctx.lang.words().centers, maud::html! {}, tables)
                        .unwrap_or_else(|e| ctx.failure(Some(&s), e))
                }
                Err(e) => ctx.failure(Some(&s), e),
            },
        },
        Ok(None) => sign_in_page(&ctx, StatusCode::OK, None),
        Err(e) => ctx.failure(None, e),
    })
    .await
}

/// The sign-in form, with a fresh token in it and in its cookie.
fn sign_in_page(ctx: &Ctx, status: StatusCode, error: Option<&str>) -> Response {
    let token = staff::random_token();
    let mut response = ctx.html(status, pages::sign_in(&ctx.frame(None, None), &token, error));
    response.headers_mut().append(header::SET_COOKIE, ctx.cookie_line(SIGNIN_COOKIE, &token, 3600, true));
    response
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    name: String,
    password: String,
}

async fn sign_in(State(store): State<Store>, ctx: Ctx, Form(form): Form<SignInForm>) -> Response {
    // A refusal shows the sign-in page, whose links belong at the root.
    let ctx = Ctx { path: "/".into(), ..ctx };
    crate::api::blocking_page(move || {
        if !ctx.signin_cookie.as_deref().is_some_and(|c| staff::same_secret(c, &form.token)) {
            return sign_in_page(&ctx, StatusCode::FORBIDDEN, Some(&HubError::BadCsrf.to_string()));
        }
        match staff::sign_in(&*store, &form.name, &form.password, &ctx.address) {
            Ok(signed) => {
                let mut response = ctx.redirect("/");
                let line = ctx.cookie_line(SESSION_COOKIE, &signed.cookie, SESSION_MS / 1000, true);
                response.headers_mut().append(header::SET_COOKIE, line);
                response
            }
            Err(e @ (HubError::SignInFailed | HubError::TooManySignIns { .. })) => {
                sign_in_page(&ctx, e.status(), Some(&e.to_string()))
            }
            Err(e) => ctx.failure(None, e),
        }
    })
    .await
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(store): State<Store>, ctx: Ctx, Form(form): Form<CsrfForm>) -> Response {
    crate::api::blocking_page(move || {
        let session = match ctx.session(&*store) {
            Ok(Some(s)) => s,
            Ok(None) => return ctx.redirect("/"),
            Err(e) => return ctx.failure(None, e),
        };
        let ended = Ctx::check_form(&session, &form.csrf).and_then(|()| {
            store.end_session(&staff::cookie_hash(ctx.session_cookie.as_deref().unwrap_or("")))
        });
        match ended {
            Ok(()) => {
                let mut response = ctx.redirect("/");
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, ctx.cookie_line(SESSION_COOKIE, "", 0, true));
                response
            }
            Err(e) => ctx.failure(Some(&session), e),
        }
    })
    .await
}

async fn password_page(State(store): State<Store>, ctx: Ctx) -> Response {
    crate::api::blocking_page(move || match ctx.session(&*store) {
        Ok(Some(s)) => ctx.html(StatusCode::OK, pages::password(&ctx.frame(Some(&s), None), None)),
        Ok(None) => ctx.redirect("/"),
        Err(e) => ctx.failure(None, e),
    })
    .await
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    old: String,
    new: String,
}

async fn change_password(State(store): State<Store>, ctx: Ctx, Form(form): Form<PasswordForm>) -> Response {
    crate::api::blocking_page(move || {
        let address = ctx.address.clone();
        let session = match ctx.session(&*store) {
            Ok(Some(s)) => s,
            Ok(None) => return ctx.redirect("/"),
            Err(e) => return ctx.failure(None, e),
        };
        let changed = Ctx::check_form(&session, &form.csrf)
            .and_then(|()| staff::change_password(&*store, &session, &form.old, &form.new, &address));
        match changed {
            Ok(signed) => {
                let mut response = ctx.redirect("/");
                let line = ctx.cookie_line(SESSION_COOKIE, &signed.cookie, SESSION_MS / 1000, true);
                response.headers_mut().append(header::SET_COOKIE, line);
                response
            }
            Err(
                e @ (HubError::SignInFailed | HubError::WeakPassword(_) | HubError::TooManySignIns { .. }),
            ) => {
                ctx.html(e.status(), pages::password(&ctx.frame(Some(&session), None), Some(&e.to_string())))
            }
            Err(e) => ctx.failure(Some(&session), e),
        }
    })
    .await
}

async fn overview(State(store): State<Store>, ctx: Ctx, Path(center): Path<String>) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        let center = center_for(store, session, &center)?;
        fresh(store);
        let now = now_millis();
        let o = report::overview(store, &center.id, now)?;
        let f = ctx.frame(Some(session), Some(&center));
        let (intro, tables) = pages::overview(&f, &center, &o, &held(store, &center.id)?, now);
        ctx.report(&f, &format!("{} · {}", center.name, ctx.lang.words().overview), intro, tables)
    })
    .await
}

async fn course(
    State(store): State<Store>,
    ctx: Ctx,
    Path((center, pack)): Path<(String, String)>,
) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        let center = center_for(store, session, &center)?;
        fresh(store);
        let grid = report::grid(store, &center.id, &pack)?;
        let f = ctx.frame(Some(session), Some(&center));
        let (intro, tables) = pages::course(&f, &center, &grid);
        ctx.report(&f, &grid.course.title, intro, tables)
    })
    .await
}

async fn quiz(
    State(store): State<Store>,
    ctx: Ctx,
    Path((center, pack, lesson)): Path<(String, String, String)>,
) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        let center = center_for(store, session, &center)?;
        fresh(store);
        let q = report::quiz(store, &center.id, &pack, &lesson)?;
        let f = ctx.frame(Some(session), Some(&center));
        let (intro, tables) = pages::quiz(&f, &center, &q);
        ctx.report(&f, &format!("{} · {}", ctx.lang.words().quiz, q.lesson.title), intro, tables)
    })
    .await
}

async fn learner(
    State(store): State<Store>,
    ctx: Ctx,
    Path((center, learner)): Path<(String, String)>,
) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        let center = center_for(store, session, &center)?;
        fresh(store);
        let r = report::learner(store, &center.id, &learner)?;
        let f = ctx.frame(Some(session), Some(&center));
        let (intro, tables) = pages::learner(&f, &center, &r);
        ctx.report(&f, &r.name, intro, tables)
    })
    .await
}

fn laptops_page(
    store: &dyn Storage,
    ctx: &Ctx,
    session: &StaffSession,
    center: &Center,
    code: Option<&admin::EnrollCode>,
) -> Result<Response> {
    let now = now_millis();
    let devices = store.devices(Some(&center.id))?;
    let f = ctx.frame(Some(session), Some(center));
    let (intro, tables) = pages::laptops(&f, center, &devices, &held(store, &center.id)?, now, code);
    ctx.report(&f, &format!("{} · {}", center.name, ctx.lang.words().laptops), intro, tables)
}

/// The courses each of a center's laptops holds.
fn held(store: &dyn Storage, center_id: &str) -> Result<pages::Held> {
    let mut held = pages::Held::new();
    for (device, pack, version) in store.held_packs(center_id)? {
        held.entry(device).or_default().push(format!("{pack}@{version}"));
    }
    Ok(held)
}

async fn hub_courses(State(store): State<Store>, ctx: Ctx, Path(center): Path<String>) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        let center = center_for(store, session, &center)?;
        let courses = crate::catalog::for_center(store, &center.id)?;
        let f = ctx.frame(Some(session), Some(&center));
        let (intro, tables) = pages::hub_courses(&f, &center, &courses);
        ctx.report(&f, &format!("{} · {}", center.name, ctx.lang.words().hub_courses), intro, tables)
    })
    .await
}

#[derive(Deserialize)]
struct RequiredForm {
    #[serde(default)]
    csrf: String,
    required: u8,
}

async fn set_required(
    State(store): State<Store>,
    ctx: Ctx,
    Path((center, pack)): Path<(String, String)>,
    Form(form): Form<RequiredForm>,
) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        Ctx::check_form(session, &form.csrf)?;
        let center = center_for(store, session, &center)?;
        crate::catalog::require(store, &pack, &center.id, form.required == 1)?;
        Ok(ctx.redirect(&format!("/centers/{}/hub-courses", center.id)))
    })
    .await
}

async fn laptops(State(store): State<Store>, ctx: Ctx, Path(center): Path<String>) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        let center = center_for(store, session, &center)?;
        laptops_page(store, ctx, session, &center, None)
    })
    .await
}

async fn revoke(
    State(store): State<Store>,
    ctx: Ctx,
    Path((center, device)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        Ctx::check_form(session, &form.csrf)?;
        let center = center_for(store, session, &center)?;
        let info = store.device(&device)?;
        if info.center_id != center.id {
            return Err(HubError::NotYourCenter);
        }
        store.revoke(&device, now_millis())?;
        tracing::info!("{} revoked laptop {device} of {}", session.account.name, center.name);
        Ok(ctx.redirect(&format!("/centers/{}/laptops", center.id)))
    })
    .await
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    minutes: Option<u32>,
}

async fn make_code(
    State(store): State<Store>,
    ctx: Ctx,
    Path(center): Path<String>,
    Form(form): Form<CodeForm>,
) -> Response {
    ctx.signed_in(store, move |store, ctx, session| {
        Ctx::check_form(session, &form.csrf)?;
        let center = center_for(store, session, &center)?;
        let code =
            admin::new_enroll_code(store, &center.id, form.minutes.unwrap_or(60).clamp(5, 1440), None)?;
        laptops_page(store, ctx, session, &center, Some(&code))
    })
    .await
}
