use super::*;

fn http(listen: &str, token_file: Option<&Path>, allow_unauthenticated: bool) -> HttpConfig {
    HttpConfig {
        listen: listen.into(),
        token_file: token_file.map(|path| path.display().to_string()),
        allow_unauthenticated,
    }
}

fn address(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn token_file(contents: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), contents).unwrap();
    file
}

#[test]
fn loopback_without_a_token_is_open() {
    for listen in ["127.0.0.1:9898", "[::1]:9898"] {
        let access =
            CustomerAccess::from_config(&http(listen, None, false), &[address(listen)]).unwrap();
        assert!(access.admits(None), "{listen}");
    }
}

#[test]
fn beyond_loopback_without_a_token_is_refused_naming_the_keys() {
    let error = CustomerAccess::from_config(
        &http("0.0.0.0:9898", None, false),
        &[address("0.0.0.0:9898")],
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("http.listen"), "{message}");
    assert!(message.contains("http.token_file"), "{message}");
    assert!(message.contains("http.allow_unauthenticated"), "{message}");
    // A name that resolves to loopback and to something else is refused too.
    let error = CustomerAccess::from_config(
        &http("somehost:9898", None, false),
        &[address("127.0.0.1:9898"), address("10.1.2.3:9898")],
    )
    .unwrap_err();
    assert!(error.to_string().contains("10.1.2.3:9898"), "{error}");
}

#[test]
fn beyond_loopback_without_a_token_is_allowed_on_purpose() {
    let access = CustomerAccess::from_config(
        &http("0.0.0.0:9898", None, true),
        &[address("0.0.0.0:9898")],
    )
    .unwrap();
    assert!(access.admits(None));
}

#[test]
fn with_a_token_only_the_bearer_of_that_token_is_admitted() {
    let file = token_file("s3cret-token\n");
    let access = CustomerAccess::from_config(
        &http("0.0.0.0:9898", Some(file.path()), false),
        &[address("0.0.0.0:9898")],
    )
    .unwrap();
    assert!(access.admits(Some(b"Bearer s3cret-token")));
    assert!(access.admits(Some(b"bearer s3cret-token")));
    for refused in [
        None,
        Some(&b""[..]),
        Some(b"Bearer"),
        Some(b"Bearer "),
        Some(b"Bearer s3cret-toke"),
        Some(b"Bearer s3cret-token2"),
        Some(b"Basic s3cret-token"),
        Some(b"s3cret-token"),
    ] {
        assert!(
            !access.admits(refused),
            "{:?}",
            refused.map(String::from_utf8_lossy)
        );
    }
}

#[test]
fn a_rotated_token_takes_effect_and_a_botched_rotation_keeps_the_old_one() {
    let file = token_file("first");
    let access = CustomerAccess::Token(TokenFile::open(file.path()).unwrap());
    assert!(access.admits(Some(b"Bearer first")));
    // A later modification time, as a Secret volume's update gives.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(file.path(), "second\n").unwrap();
    assert!(access.admits(Some(b"Bearer second")));
    assert!(!access.admits(Some(b"Bearer first")));
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(file.path(), "  \n").unwrap();
    assert!(access.admits(Some(b"Bearer second")));
    assert!(!access.admits(Some(b"Bearer ")));
}

#[test]
fn an_empty_or_missing_token_file_is_a_config_error_naming_the_key() {
    let empty = token_file(" \n");
    let error = TokenFile::open(empty.path()).unwrap_err();
    assert!(matches!(error, AccessError::Empty { .. }));
    assert!(error.to_string().contains("http.token_file"), "{error}");
    let error = TokenFile::open(Path::new("/nonexistent/healthscore-token")).unwrap_err();
    assert!(matches!(error, AccessError::Unreadable { .. }));
    assert!(
        error.to_string().contains("/nonexistent/healthscore-token"),
        "{error}"
    );
}
