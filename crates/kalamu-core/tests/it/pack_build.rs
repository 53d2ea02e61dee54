//! `pack build`: a source folder becomes a pack, or the publisher is told
//! exactly which file is wrong and why.

use std::fs;
use std::process::Command;

use kalamu_core::Error;
use kalamu_core::pack::Problem;
use kalamu_core::pack::build::build;

use crate::support::Env;

fn build_error(env: &Env, src: &std::path::Path) -> (String, String) {
    let out = env.path("out.kpack");
    match build(src, &out, None, &mut |_| {}) {
        Err(Error::Pack { problem: Problem::Source { file, problem }, .. }) => {
            assert!(!out.exists(), "a failed build left a pack behind");
            (file, problem)
        }
        other => panic!("expected a source problem, got {:?}", other.map(|r| r.manifest.id)),
    }
}

#[test]
fn built_pack_is_a_plain_zip_that_unzip_lists() {
    let env = Env::new();
    let src = env.source("src");
    let (pack, report) = env.build(&src, "test");
    assert_eq!(report.manifest.files.len(), 4, "pack.toml and quiz files are compiled in, not shipped");
    let out = Command::new("unzip").arg("-l").arg(&pack).output().expect("unzip is installed");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for name in
        ["kalamu-manifest.json", "kalamu-signature.json", "lessons/intro/index.html", "media/clip.webm"]
    {
        assert!(listing.contains(name), "unzip -l does not list {name}:\n{listing}");
    }
}

#[test]
fn build_names_a_lesson_whose_entry_file_is_missing() {
    let env = Env::new();
    let src = env.source("src");
    fs::remove_file(src.join("lessons/intro/index.html")).unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "pack.toml");
    assert!(problem.contains("intro") && problem.contains("lessons/intro/index.html"), "{problem}");
}

#[test]
fn build_names_a_quiz_item_with_no_correct_answer() {
    let env = Env::new();
    let src = env.source("src");
    let quiz = fs::read_to_string(src.join("quizzes/m1.toml")).unwrap().replace("answer = 1", "answer = 5");
    fs::write(src.join("quizzes/m1.toml"), quiz).unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "quizzes/m1.toml");
    assert!(problem.contains("q1") && problem.contains("no correct answer"), "{problem}");
}

#[test]
fn build_names_a_misspelt_quiz_field() {
    let env = Env::new();
    let src = env.source("src");
    let quiz =
        fs::read_to_string(src.join("quizzes/m1.toml")).unwrap().replacen("answer = 1", "anwser = 1", 1);
    fs::write(src.join("quizzes/m1.toml"), quiz).unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "quizzes/m1.toml");
    assert!(problem.contains("q1") && problem.contains("unknown field `anwser`"), "{problem}");

    let quiz =
        fs::read_to_string(src.join("quizzes/m1.toml")).unwrap().replacen("anwser = 1", "answer = 1", 1);
    fs::write(src.join("quizzes/m1.toml"), quiz.replacen("type = \"single\"", "type = \"singel\"", 1))
        .unwrap();
    let (_, problem) = build_error(&env, &src);
    assert!(problem.contains("q1") && problem.contains("\"singel\"; it must be single"), "{problem}");
}

#[test]
fn build_names_a_file_referenced_but_missing() {
    let env = Env::new();
    let src = env.source("src");
    fs::remove_file(src.join("lessons/intro/pic.png")).unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "lessons/intro/index.html");
    assert!(problem.contains("pic.png") && problem.contains("missing"), "{problem}");
}

/// Replaces the intro lesson's picture with `img`.
fn with_picture(src: &std::path::Path, img: &str) {
    let page = src.join("lessons/intro/index.html");
    let html = fs::read_to_string(&page).unwrap().replace(r#"<img src="pic.png" alt="A picture">"#, img);
    fs::write(page, html).unwrap();
}

#[test]
fn build_names_a_missing_srcset_candidate_and_a_missing_css_import() {
    let env = Env::new();
    let src = env.source("src");
    with_picture(&src, r#"<img alt="A picture" srcset="pic.png 1x,  pic-2x.png 2x" sizes="50vw">"#);
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "lessons/intro/index.html");
    assert!(problem.contains("pic-2x.png") && problem.contains("missing"), "{problem}");

    fs::copy(src.join("lessons/intro/pic.png"), src.join("lessons/intro/pic-2x.png")).unwrap();
    fs::write(src.join("style.css"), "@import 'print.css' print;\nbody { font-family: sans-serif; }\n")
        .unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "style.css");
    assert!(problem.contains("print.css") && problem.contains("missing"), "{problem}");

    fs::write(src.join("print.css"), "img { display: none; }\n").unwrap();
    env.build(&src, "test");
}

#[test]
fn build_reads_references_as_the_webview_does() {
    let env = Env::new();
    let src = env.source("src");
    fs::rename(src.join("lessons/intro/pic.png"), src.join("lessons/intro/photo é.png")).unwrap();
    // Percent-encoded and unquoted, as authoring tools write them.
    with_picture(&src, r#"<img src=photo%20%C3%A9.png alt="A picture">"#);
    let (_, report) = env.build(&src, "test");
    assert!(report.manifest.file("lessons/intro/photo é.png").is_some());

    let page = src.join("lessons/intro/index.html");
    let html = fs::read_to_string(&page).unwrap().replace("photo%20%C3%A9.png", "photo%zz.png");
    fs::write(page, html).unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "lessons/intro/index.html");
    assert!(problem.contains("photo%zz.png") && problem.contains("malformed"), "{problem}");
}

#[test]
fn build_refuses_a_lesson_that_needs_the_network() {
    let env = Env::new();
    let src = env.source("src");
    fs::write(
        src.join("lessons/intro/index.html"),
        r#"<!doctype html><img src="https://cdn.example.com/a.png">"#,
    )
    .unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "lessons/intro/index.html");
    assert!(problem.contains("external address"), "{problem}");
}

#[test]
fn build_finds_addresses_in_any_case_and_in_forms_objects_and_refreshes() {
    let env = Env::new();
    let src = env.source("src");
    for (markup, named) in [
        (r#"<IMG SRC="HTTPS://cdn.example.com/a.png">"#, "HTTPS://cdn.example.com/a.png"),
        (r#"<form ACTION="https://forms.example.com/send"></form>"#, "https://forms.example.com/send"),
        (r#"<object data="missing.swf"></object>"#, "missing.swf"),
        (r#"<meta http-equiv="refresh" content="0; URL=https://example.com/">"#, "https://example.com/"),
        (r#"<div style="background: URL('gone.png')"></div>"#, "gone.png"),
    ] {
        fs::write(src.join("lessons/intro/index.html"), format!("<!doctype html>{markup}")).unwrap();
        let (file, problem) = build_error(&env, &src);
        assert_eq!(file, "lessons/intro/index.html", "{markup}");
        assert!(problem.contains(named), "{markup}: {problem}");
    }
}

#[test]
fn build_names_a_path_windows_cannot_hold() {
    let env = Env::new();
    let src = env.source("src");
    fs::write(src.join("media/aux.txt"), "notes").unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "media/aux.txt");
    assert!(problem.contains("Windows"), "{problem}");
}

#[test]
fn build_names_a_file_over_the_size_limit() {
    let env = Env::new();
    let src = env.source("src");
    // Sparse: costs no disk, but says 9 GiB.
    fs::File::create(src.join("media/huge.webm")).unwrap().set_len(9 << 30).unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "media/huge.webm");
    assert!(problem.contains("over the limit"), "{problem}");
}

#[test]
fn build_names_a_file_that_is_not_what_its_name_says() {
    let env = Env::new();
    let src = env.source("src");
    fs::write(src.join("lessons/intro/pic.png"), "<html>not a picture</html>").unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "lessons/intro/pic.png");
    assert!(problem.contains("image/png"), "{problem}");
}

#[cfg(unix)]
#[test]
fn build_refuses_links_in_the_source_folder() {
    let env = Env::new();
    let src = env.source("src");
    std::os::unix::fs::symlink("/etc/passwd", src.join("media/passwd.txt")).unwrap();
    let (file, problem) = build_error(&env, &src);
    assert_eq!(file, "media/passwd.txt");
    assert!(problem.contains("symbolic link"), "{problem}");
}

#[test]
fn sample_packs_in_the_repository_build() {
    let env = Env::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs");
    for (name, lang) in [("networks-intro", "en"), ("bases-informatique", "fr")] {
        let (_, report) = env.build(&root.join(name), name);
        let m = &report.manifest;
        assert_eq!(m.language, lang);
        assert!(m.lesson_count() >= 6, "{name} has {} lessons", m.lesson_count());
        assert!(m.files.iter().any(|f| f.media_type == "video/webm"), "{name} has a video");
        assert!(m.files.iter().any(|f| f.media_type == "audio/ogg"), "{name} has audio");
    }
}
