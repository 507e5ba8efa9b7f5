//! The OAuth apps page: an organization's OWNERs and MANAGERs register apps (the secret shown
//! once), give one a new secret with an overlap during which the old one still works, and
//! delete one; VIEWERs see the list only; an app of another organization, a management
//! client or an organization the person is not in is a 404; bad registrations are refused with
//! the reason and store nothing.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::pages::*;
use castellan_core::client::ClientKind;
use castellan_core::user::{Membership, Role};
use castellan_store::audit::AuditQuery;
use castellan_testkit::TestApp;
use reqwest::StatusCode;

async fn set_role(app: &TestApp, org: &str, user: &str, role: Role) {
    app.store
        .upsert_membership(&Membership {
            organization_id: org.to_owned(),
            user_id: user.to_owned(),
            role,
        })
        .await
        .unwrap();
}

async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let b = Browser::new(app);
    let login = b.get("/login").await;
    sign_in(&b, &login, email, PASSWORD).await;
    b
}

/// The value of the element with `id` (an input's `value`, or a `<code>`'s text).
fn value_of(page: &Page, id: &str) -> String {
    let start = page
        .body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {}", page.body));
    let tail = &page.body[start..];
    if let Some(v) = tail
        .find("value=\"")
        .filter(|v| *v < tail.find('>').unwrap())
    {
        let rest = &tail[v + 7..];
        return unescape(&rest[..rest.find('"').unwrap()]);
    }
    let rest = &tail[tail.find('>').unwrap() + 1..];
    unescape(&rest[..rest.find('<').unwrap()])
}

/// Whether the token endpoint takes `secret` as the client's: a refresh with an unknown token
/// is `invalid_grant` (400) for an authenticated client, `invalid_client` (401) otherwise.
async fn secret_works(app: &TestApp, client_id: &str, secret: &str) -> bool {
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "unknown"),
        ])
        .send()
        .await
        .unwrap();
    match res.status() {
        StatusCode::BAD_REQUEST => true,
        StatusCode::UNAUTHORIZED => false,
        s => panic!("unexpected {s}"),
    }
}

fn register<'a>(
    csrf: &'a str,
    org: &'a str,
    name: &'a str,
    kind: &'a str,
    uris: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("organization", org),
        ("name", name),
        ("kind", kind),
        ("redirect_uris", uris),
        ("scope", "openid"),
        ("scope", "products:read"),
    ]
}

#[tokio::test]
async fn an_owner_registers_rotates_and_deletes_an_organizations_app() {
    let app = TestApp::spawn_with(crate::support::browser::product_scopes).await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    set_role(&app, &acme, &olga, Role::Owner).await;
    let b = signed_in(&app, "olga@example.com").await;

    assert!(b
        .get("/account")
        .await
        .body
        .contains("href=\"/account/oauth-apps\""));
    let page = b.get("/account/oauth-apps").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("This organization has no OAuth apps yet."));
    assert!(page.body.contains("id=\"register-app\""));
    let csrf = page.hidden("csrf");

    // A confidential app: its client id and secret shown once, only the hash stored.
    let created = b
        .post(
            "/account/oauth-apps",
            &register(
                &csrf,
                &acme,
                "Close integration",
                "confidential",
                "https://app.example/callback\r\nhttp://127.0.0.1:8080/cb",
            ),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.headers["cache-control"], "no-store");
    assert!(created.body.contains("you will not see this again"));
    assert!(created.body.contains("src=\"/assets/copy.js\""));
    let client_id = value_of(&created, "new-client-id");
    let secret = value_of(&created, "new-key");
    let stored = app.store.get_client(&client_id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Close integration");
    assert_eq!(stored.kind, ClientKind::Confidential);
    assert_eq!(
        stored.redirect_uris,
        ["https://app.example/callback", "http://127.0.0.1:8080/cb"]
    );
    assert_eq!(
        castellan_core::scope::patterns_to_string(&stored.scope),
        "openid products:read"
    );
    assert_eq!(
        stored.secret_hash.as_ref().unwrap().0,
        castellan_crypto::hash_secret(&secret).0
    );
    assert_eq!(
        app.store
            .organization_of_client(&client_id)
            .await
            .unwrap()
            .as_deref(),
        Some(acme.as_str())
    );
    assert!(secret_works(&app, &client_id, &secret).await);
    // The list shows the app, never the secret again.
    let page = b.get("/account/oauth-apps").await;
    assert!(page.body.contains(&format!("id=\"app-{client_id}\"")));
    assert!(!page.body.contains(&secret));

    // A new secret with an hour's overlap: both work; then one with none: only the newest.
    let rotated = b
        .post(
            "/account/oauth-apps/rotate-secret",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("client", &client_id),
                ("overlap", "3600"),
            ],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let second = value_of(&rotated, "new-key");
    assert_ne!(second, secret);
    assert!(value_of(&rotated, "previous-until").contains("still works until"));
    assert!(secret_works(&app, &client_id, &secret).await);
    assert!(secret_works(&app, &client_id, &second).await);
    let rotated = b
        .post(
            "/account/oauth-apps/rotate-secret",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("client", &client_id),
                ("overlap", "0"),
            ],
        )
        .await;
    let third = value_of(&rotated, "new-key");
    assert!(rotated
        .body
        .contains("The previous secret no longer works."));
    assert!(!secret_works(&app, &client_id, &second).await);
    assert!(secret_works(&app, &client_id, &third).await);
    // An overlap past the bound is refused with the reason.
    let refused = b
        .post(
            "/account/oauth-apps/rotate-secret",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("client", &client_id),
                ("overlap", "99999999"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("overlapSeconds must be from 0"),
        "{}",
        refused.body
    );
    assert!(secret_works(&app, &client_id, &third).await);

    // A public app: no secret.
    let public = b
        .post(
            "/account/oauth-apps",
            &register(
                &csrf,
                &acme,
                "Mobile",
                "public",
                "com.example.app:/callback",
            ),
        )
        .await;
    assert_eq!(public.status, 200, "{}", public.body);
    assert!(!public.body.contains("id=\"new-key\""));
    let public_id = value_of(&public, "new-client-id");
    let stored = app.store.get_client(&public_id).await.unwrap().unwrap();
    assert_eq!(stored.kind, ClientKind::Public);
    assert!(stored.secret_hash.is_none());
    assert!(!public
        .body
        .contains("aria-label=\"Give Mobile a new secret\""));

    // Delete: gone, with the audit trail of the organization.
    let deleted = b
        .post(
            "/account/oauth-apps/delete",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("client", &client_id),
            ],
        )
        .await;
    assert_eq!(deleted.status, 303);
    assert_eq!(app.store.get_client(&client_id).await.unwrap(), None);
    assert!(!secret_works(&app, &client_id, &third).await);
    let (events, _) = app
        .store
        .list_audit_events(
            &AuditQuery {
                organization_id: Some(acme.clone()),
                ..AuditQuery::default()
            },
            50,
            0,
        )
        .await
        .unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.target.as_deref().unwrap_or_default()))
        .collect();
    for expected in [
        ("client.created", client_id.as_str()),
        ("client.secret_rotated", client_id.as_str()),
        ("client.deleted", client_id.as_str()),
        ("client.created", public_id.as_str()),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} not in {kinds:?}");
    }
    assert!(events.iter().all(|e| e.actor_id == olga));
    let all = format!("{events:?}");
    for s in [&secret, &second, &third] {
        assert!(!all.contains(s.as_str()));
    }
}

#[tokio::test]
async fn viewers_see_apps_and_nobody_reaches_another_organizations() {
    let app = TestApp::spawn_with(crate::support::browser::product_scopes).await;
    let (_, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    let (vera, _) = add_person(&app, "vera@example.com", &[]).await;
    set_role(&app, &acme, &vera, Role::Viewer).await;
    let (_, beta) = add_person(&app, "bert@example.com", &["Beta"]).await;
    let owner = signed_in(&app, "olga@example.com").await;
    let csrf = owner.get("/account/oauth-apps").await.hidden("csrf");
    let created = owner
        .post(
            "/account/oauth-apps",
            &register(
                &csrf,
                &acme,
                "Acme app",
                "confidential",
                "https://acme.example/cb",
            ),
        )
        .await;
    let client_id = value_of(&created, "new-client-id");
    let secret = value_of(&created, "new-key");

    // A VIEWER sees the list and no form; every change is a 403 that changes nothing.
    let viewer = signed_in(&app, "vera@example.com").await;
    let page = viewer.get("/account/oauth-apps").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("id=\"app-{client_id}\"")));
    assert!(!page.body.contains("id=\"register-app\""));
    assert!(!page.body.contains("/account/oauth-apps/delete"));
    assert!(page.body.contains("Only an OWNER or a MANAGER"));
    // (The page has no form for a VIEWER; the account page's token is the session's.)
    let vcsrf = viewer.get("/account").await.hidden("csrf");
    let before = app.store.organization_clients(&acme).await.unwrap().len();
    let p = viewer
        .post(
            "/account/oauth-apps",
            &register(
                &vcsrf,
                &acme,
                "Sneaky",
                "confidential",
                "https://x.example/cb",
            ),
        )
        .await;
    assert_eq!(p.status, 403);
    for path in [
        "/account/oauth-apps/rotate-secret",
        "/account/oauth-apps/delete",
    ] {
        let p = viewer
            .post(
                path,
                &[
                    ("csrf", &vcsrf),
                    ("organization", &acme),
                    ("client", &client_id),
                ],
            )
            .await;
        assert_eq!(p.status, 403, "{path}");
    }
    assert_eq!(
        app.store.organization_clients(&acme).await.unwrap().len(),
        before
    );
    assert!(secret_works(&app, &client_id, &secret).await);

    // A MANAGER of Beta: Acme's app is not theirs, under either organization.
    let other = signed_in(&app, "bert@example.com").await;
    let ocsrf = other.get("/account/oauth-apps").await.hidden("csrf");
    assert_eq!(
        other
            .get(&format!("/account/oauth-apps?organization={acme}"))
            .await
            .status,
        404
    );
    for org in [acme.as_str(), beta[0].as_str()] {
        for path in [
            "/account/oauth-apps/rotate-secret",
            "/account/oauth-apps/delete",
        ] {
            let p = other
                .post(
                    path,
                    &[
                        ("csrf", &ocsrf),
                        ("organization", org),
                        ("client", &client_id),
                    ],
                )
                .await;
            assert_eq!(p.status, 404, "{path} under {org}");
        }
        let p = other
            .post(
                "/account/oauth-apps",
                &register(
                    &ocsrf,
                    &acme,
                    "Into Acme",
                    "confidential",
                    "https://x.example/cb",
                ),
            )
            .await;
        assert_eq!(p.status, 404);
    }
    assert!(secret_works(&app, &client_id, &secret).await);

    // A management client is no organization's app: the page cannot touch it.
    let admin_made = app
        .create_client(serde_json::json!({"name": "ops", "scope": "products:read"}))
        .await;
    let admin_id = admin_made["id"].as_str().unwrap();
    let p = owner
        .post(
            "/account/oauth-apps/delete",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("client", admin_id),
            ],
        )
        .await;
    assert_eq!(p.status, 404);
    assert!(app.store.get_client(admin_id).await.unwrap().is_some());

    // Without the CSRF token, nothing happens.
    let p = owner
        .post(
            "/account/oauth-apps/delete",
            &[("organization", &acme), ("client", &client_id)],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(app.store.get_client(&client_id).await.unwrap().is_some());
    // Signed out: to the login page.
    assert_eq!(
        Browser::new(&app)
            .get("/account/oauth-apps")
            .await
            .location
            .as_deref(),
        Some("/login")
    );
}

#[tokio::test]
async fn bad_registrations_are_refused_with_the_reason_and_store_nothing() {
    let app = TestApp::spawn_with(|c| {
        crate::support::browser::product_scopes(c);
        c.environment = castellan_core::Environment::Production;
        c.issuer = "https://auth.example".into();
    })
    .await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    set_role(&app, &acme, &olga, Role::Manager).await;
    // Production pages need https and __Host- cookies: the production rules are driven
    // through the service the page calls.
    use castellan_server::audit::Caller;
    use castellan_server::people::oauth_apps::{register_app, AppDraft, AppError};
    let draft = |name: &str, uris: &[&str], scopes: &[&str]| AppDraft {
        name: name.to_owned(),
        public: false,
        redirect_uris: uris.iter().map(|s| (*s).to_owned()).collect(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    let by = Caller::person(&olga, None);
    for (d, says) in [
        (
            draft("App", &["http://app.example/cb"], &["openid"]),
            "uses http",
        ),
        (
            draft("App", &["http://localhost:8080/cb"], &["openid"]),
            "loopback hostname",
        ),
        (
            draft("App", &["https://app.example/cb#x"], &["openid"]),
            "fragment",
        ),
        (
            draft("App", &["javascript:alert(1)"], &["openid"]),
            "not allowed",
        ),
        (
            draft("App", &["https://app.example/cb"], &[]),
            "at least one permission",
        ),
        (
            draft("App", &["https://app.example/cb"], &["manage_api_clients"]),
            "not a permission you can give",
        ),
        (
            draft("App", &["https://app.example/cb"], &["introspect"]),
            "not a permission you can give",
        ),
        (draft("App", &[], &["openid"]), "at least one redirect URI"),
        (draft("", &["https://app.example/cb"], &["openid"]), "name"),
        (
            draft("A\u{0}pp", &["https://app.example/cb"], &["openid"]),
            "name",
        ),
    ] {
        match register_app(&app.state, &acme, &olga, d.clone(), &by).await {
            Err(AppError::Invalid(m)) => assert!(m.contains(says), "{d:?}: {m}"),
            other => panic!("{d:?}: {:?}", other.map(|(c, _)| c.id)),
        }
    }
    assert!(app
        .store
        .organization_clients(&acme)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_refused_form_is_shown_again_with_the_reason() {
    let app = TestApp::spawn_with(crate::support::browser::product_scopes).await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    set_role(&app, &acme, &olga, Role::Owner).await;
    let b = signed_in(&app, "olga@example.com").await;
    let csrf = b.get("/account/oauth-apps").await.hidden("csrf");
    let p = b
        .post(
            "/account/oauth-apps",
            &register(
                &csrf,
                &acme,
                "Kept name",
                "confidential",
                "http://nope.example/cb",
            ),
        )
        .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("The app was not registered"), "{}", p.body);
    assert!(p.body.contains("value=\"Kept name\""));
    assert!(p.body.contains("http://nope.example/cb"));
    let p = b
        .post(
            "/account/oauth-apps",
            &register(&csrf, &acme, "App", "sideways", "https://app.example/cb"),
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("Choose what kind of app it is."));
    let many: String = (0..21)
        .map(|i| format!("https://app.example/{i}\n"))
        .collect();
    let p = b
        .post(
            "/account/oauth-apps",
            &register(&csrf, &acme, "App", "confidential", &many),
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("At most 20 redirect URIs."));
    let mut twice = register(
        &csrf,
        &acme,
        "App",
        "confidential",
        "https://app.example/cb",
    );
    twice.push(("name", "Other"));
    let p = b.post("/account/oauth-apps", &twice).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("sent more than once"));
    assert!(app
        .store
        .organization_clients(&acme)
        .await
        .unwrap()
        .is_empty());
}
