//! The members page and what goes by email: an OWNER invites by mail (read back from a mail
//! sink the test starts) or, without a mail server, is shown the link to pass on; the invitee
//! sets up an account or signs in and joins, once; OWNERs change roles and remove members
//! (never the last OWNER), others only see; a person verifies their address by a mailed link
//! (then `email_verified: true`); a forgotten password is reset by a mailed link, with the
//! same answer for unknown addresses, throttled.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use crate::support::pages::*;
use crate::support::smtp::Sink;
use castellan_core::user::{Membership, Role};
use castellan_store::audit::AuditQuery;
use castellan_testkit::TestApp;
use std::time::Duration;

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

async fn signed_in(app: &TestApp, email: &str, password: &str) -> Browser {
    let b = Browser::new(app);
    let login = b.get("/login").await;
    sign_in(&b, &login, email, password).await;
    b
}

/// The path and query of an absolute link of this server.
fn local(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.state.config.issuer)
        .unwrap()
        .to_owned()
}

async fn kinds(app: &TestApp) -> Vec<String> {
    let (events, _) = app
        .store
        .list_audit_events(&AuditQuery::default(), 100, 0)
        .await
        .unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn an_owner_invites_by_mail_and_the_invitee_sets_up_an_account_once() {
    let sink = Sink::start().await;
    let app = TestApp::spawn_with(|c| sink.configure(c)).await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    set_role(&app, &acme, &olga, Role::Owner).await;
    let owner = signed_in(&app, "olga@example.com", PASSWORD).await;
    assert!(owner
        .get("/account")
        .await
        .body
        .contains("href=\"/account/members\""));
    let page = owner.get("/account/members").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"invite\""));
    let csrf = page.hidden("csrf");

    let sent = owner
        .post(
            "/account/members/invite",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("email", " New@Example.com "),
                ("role", "MANAGER"),
            ],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let mail = sink.wait_for("new@example.com").await;
    assert!(
        mail.text.contains("Subject: Join Acme on Castellan"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("as MANAGER"));
    let link = mail
        .link(&format!("{}/invitation?token=", app.state.config.issuer))
        .unwrap();
    let token = link.rsplit('=').next().unwrap().to_owned();
    // Pending, shown to the OWNER without its secret.
    let page = owner.get("/account/members").await;
    assert!(page.body.contains("new@example.com"));
    assert!(!page.body.contains(&token));

    // The invitee has no account: they set one up.
    let b = Browser::new(&app);
    let invitation = b.get(&local(&app, &link)).await;
    assert_eq!(invitation.status, 200, "{}", invitation.body);
    assert!(invitation.body.contains("as <strong>MANAGER</strong>"));
    assert!(invitation.body.contains("action=\"/invitation/join\""));
    let icsrf = invitation.hidden("csrf");
    let mismatch = b
        .post(
            "/invitation/join",
            &[
                ("csrf", &icsrf),
                ("token", &token),
                ("name", "Nia"),
                ("password", "a good password"),
                ("confirm", "another one!"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.body.contains("The two passwords differ"));
    let joined = b
        .post(
            "/invitation/join",
            &[
                ("csrf", &icsrf),
                ("token", &token),
                ("name", "Nia"),
                ("password", "a good password"),
                ("confirm", "a good password"),
            ],
        )
        .await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    assert_eq!(
        joined.location.as_deref(),
        Some(format!("/account/members?organization={acme}").as_str())
    );
    let nia = app
        .store
        .find_user_by_email("new@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(nia.name, "Nia");
    assert!(nia.email_verified_at.is_some());
    assert!(nia.password_hash.starts_with("$argon2id$"));
    assert_eq!(
        app.store.role_in(&acme, &nia.id).await.unwrap(),
        Some(Role::Manager)
    );
    // Signed in by joining.
    let members = b.get(joined.location.as_deref().unwrap()).await;
    assert_eq!(members.status, 200);
    assert!(members.body.contains("olga@example.com"));

    // The link works once.
    let again = Browser::new(&app).get(&local(&app, &link)).await;
    assert_eq!(again.status, 404);
    assert!(again.body.contains("This link no longer works"));
    let replay = Browser::new(&app);
    let rcsrf = replay.get("/login").await.hidden("csrf");
    let p = replay
        .post(
            "/invitation/join",
            &[
                ("csrf", &rcsrf),
                ("token", &token),
                ("name", "Eve"),
                ("password", "a good password"),
                ("confirm", "a good password"),
            ],
        )
        .await;
    assert_eq!(p.status, 404);
    assert!(app
        .store
        .organization_clients(&acme)
        .await
        .unwrap()
        .is_empty());
    let k = kinds(&app).await;
    assert!(k.contains(&"member.invited".to_owned()), "{k:?}");
    assert!(k.contains(&"member.joined".to_owned()), "{k:?}");
    // Garbage tokens of any shape are a 404 page.
    for t in [
        "",
        "x",
        &"a".repeat(43),
        &"%00".repeat(20),
        &"b".repeat(5000),
    ] {
        let p = Browser::new(&app)
            .get(&format!("/invitation?token={t}"))
            .await;
        assert_eq!(p.status, 404, "{t}");
    }
}

#[tokio::test]
async fn without_mail_the_owner_passes_the_link_and_only_its_address_accepts_it() {
    let app = TestApp::spawn().await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    set_role(&app, &acme, &olga, Role::Owner).await;
    let (bob, _) = add_person(&app, "bob@example.com", &[]).await;
    add_person(&app, "carol@example.com", &[]).await;
    let owner = signed_in(&app, "olga@example.com", PASSWORD).await;
    let csrf = owner.get("/account/members").await.hidden("csrf");
    let shown = owner
        .post(
            "/account/members/invite",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("email", "bob@example.com"),
                ("role", "VIEWER"),
            ],
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains("Mail is not set up on this server"));
    let link = unescape(&{
        let i = shown.body.find("id=\"new-key\"").unwrap();
        let rest = &shown.body[i..];
        let v = rest.find("value=\"").unwrap() + 7;
        rest[v..v + rest[v..].find('"').unwrap()].to_owned()
    });
    let token = link.rsplit('=').next().unwrap().to_owned();
    let path = local(&app, &link);

    // Signed out, Bob is asked to sign in; Carol, signed in, cannot take it.
    assert!(Browser::new(&app)
        .get(&path)
        .await
        .body
        .contains("id=\"invitation-sign-in\""));
    let carol = signed_in(&app, "carol@example.com", PASSWORD).await;
    let seen = carol.get(&path).await;
    assert!(seen.body.contains("id=\"invitation-other\""));
    let ccsrf = carol.get("/account").await.hidden("csrf");
    let p = carol
        .post("/invitation/accept", &[("csrf", &ccsrf), ("token", &token)])
        .await;
    assert_eq!(p.status, 404);
    assert_eq!(app.store.role_in(&acme, &bob).await.unwrap(), None);
    // The gateway's membership cache has seen Bob as no member (as a check of a token bound
    // to Acme would have); joining must not leave him refused until the entry expires.
    let cached = |who: String| {
        let app = &app;
        let acme = acme.clone();
        async move {
            app.state
                .memberships
                .role_in(&app.state.store, &acme, &who)
                .await
                .unwrap()
        }
    };
    assert_eq!(cached(bob.clone()).await, None);
    // Bob signs in and joins.
    let b = signed_in(&app, "bob@example.com", PASSWORD).await;
    let seen = b.get(&path).await;
    let bcsrf = seen.hidden("csrf");
    let p = b
        .post("/invitation/accept", &[("csrf", &bcsrf), ("token", &token)])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        app.store.role_in(&acme, &bob).await.unwrap(),
        Some(Role::Viewer)
    );
    assert_eq!(
        cached(bob.clone()).await,
        Some(Role::Viewer),
        "the gateway sees the new member at once"
    );
    // Handed on by its OWNER, not mailed: it proves no address.
    assert_eq!(
        app.store
            .get_user(&bob)
            .await
            .unwrap()
            .unwrap()
            .email_verified_at,
        None
    );
    // Without the CSRF token, nothing happens (a second invitation stays unused).
    let second = owner
        .post(
            "/account/members/invite",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("email", "dan@example.com"),
                ("role", "OWNER"),
            ],
        )
        .await;
    assert_eq!(second.status, 200);
    let pending = app
        .store
        .pending_invitations(&acme, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let withdraw = owner
        .post(
            "/account/members/withdraw",
            &[
                ("organization", acme.as_str()),
                ("invitation", pending[0].id.as_str()),
            ],
        )
        .await;
    assert_eq!(withdraw.status, 403);
    let withdraw = owner
        .post(
            "/account/members/withdraw",
            &[
                ("csrf", &csrf),
                ("organization", &acme),
                ("invitation", &pending[0].id),
            ],
        )
        .await;
    assert_eq!(withdraw.status, 303);
    assert!(app
        .store
        .pending_invitations(&acme, chrono::Utc::now())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn owners_change_roles_and_remove_members_and_others_only_see() {
    let app = TestApp::spawn().await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    set_role(&app, &acme, &olga, Role::Owner).await;
    let (max, _) = add_person(&app, "max@example.com", &[]).await;
    set_role(&app, &acme, &max, Role::Manager).await;
    let (_, beta) = add_person(&app, "bert@example.com", &["Beta"]).await;
    let owner = signed_in(&app, "olga@example.com", PASSWORD).await;
    let csrf = owner.get("/account/members").await.hidden("csrf");
    let post = |path: &'static str, user: &str, role: Option<&'static str>| {
        let mut form = vec![
            ("csrf", csrf.clone()),
            ("organization", acme.clone()),
            ("user", user.to_owned()),
        ];
        if let Some(r) = role {
            form.push(("role", r.to_owned()));
        }
        let owner = &owner;
        async move {
            let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            owner.post(path, &refs).await
        }
    };

    // The last OWNER cannot be demoted or removed.
    let p = post("/account/members/role", &olga, Some("VIEWER")).await;
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("last OWNER"));
    let p = post("/account/members/remove", &olga, None).await;
    assert_eq!(p.status, 409);
    assert_eq!(
        app.store.role_in(&acme, &olga).await.unwrap(),
        Some(Role::Owner)
    );
    // A role change and a removal.
    let p = post("/account/members/role", &max, Some("VIEWER")).await;
    assert_eq!(p.status, 303);
    assert_eq!(
        app.store.role_in(&acme, &max).await.unwrap(),
        Some(Role::Viewer)
    );
    // Someone not a member, or of another organization, is not found.
    let bert = app
        .store
        .find_user_by_email("bert@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        post("/account/members/remove", &bert, None).await.status,
        404
    );
    assert_eq!(
        post("/account/members/role", &bert, Some("OWNER"))
            .await
            .status,
        404
    );
    assert_eq!(app.store.role_in(&acme, &bert).await.unwrap(), None);
    let p = post("/account/members/remove", &max, None).await;
    assert_eq!(p.status, 303);
    assert_eq!(app.store.role_in(&acme, &max).await.unwrap(), None);

    // A MANAGER sees the list and changes nothing; another organization's page is a 404.
    set_role(&app, &acme, &max, Role::Manager).await;
    let manager = signed_in(&app, "max@example.com", PASSWORD).await;
    let page = manager.get("/account/members").await;
    assert!(page.body.contains("olga@example.com"));
    assert!(!page.body.contains("id=\"invite\""));
    let mcsrf = manager.get("/account").await.hidden("csrf");
    let p = manager
        .post(
            "/account/members/role",
            &[
                ("csrf", mcsrf.as_str()),
                ("organization", acme.as_str()),
                ("user", olga.as_str()),
                ("role", "VIEWER"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    let p = manager
        .post(
            "/account/members/invite",
            &[
                ("csrf", mcsrf.as_str()),
                ("organization", acme.as_str()),
                ("email", "x@example.com"),
                ("role", "OWNER"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(
        manager
            .get(&format!("/account/members?organization={}", beta[0]))
            .await
            .status,
        404
    );
    let k = kinds(&app).await;
    assert!(
        k.iter().filter(|k| *k == "member.role_changed").count() >= 1,
        "{k:?}"
    );
    assert!(k.contains(&"member.removed".to_owned()));
}

#[tokio::test]
async fn a_person_verifies_their_address_and_resets_a_forgotten_password_by_mail() {
    let sink = Sink::start().await;
    let app = TestApp::spawn_with(|c| sink.configure(c)).await;
    let (ann, _) = add_person(&app, "ann@example.com", &["Acme"]).await;
    let b = signed_in(&app, "ann@example.com", PASSWORD).await;
    let account = b.get("/account").await;
    assert!(account.body.contains("id=\"send-verification\""));
    let p = b
        .post(
            "/account/verify-email",
            &[("csrf", &account.hidden("csrf"))],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/account?verify=sent"));
    let mail = sink.wait_for("ann@example.com").await;
    let link = mail
        .link(&format!("{}/verify-email?token=", app.state.config.issuer))
        .unwrap();
    let page = b.get(&local(&app, &link)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.hidden("token");
    let done = b
        .post(
            "/verify-email",
            &[("csrf", &page.hidden("csrf")), ("token", &token)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(app
        .store
        .get_user(&ann)
        .await
        .unwrap()
        .unwrap()
        .email_verified_at
        .is_some());
    assert!(!b
        .get("/account")
        .await
        .body
        .contains("id=\"send-verification\""));
    assert_eq!(b.get(&local(&app, &link)).await.status, 404);

    // Reset: the same answer for a known and an unknown address; one mail, to the known one.
    let before = sink.mails().len();
    let anon = Browser::new(&app);
    let form = anon.get("/password-reset").await;
    let mut answers = Vec::new();
    for email in ["nobody@example.com", "ann@example.com"] {
        let p = anon
            .post(
                "/password-reset",
                &[("csrf", &form.hidden("csrf")), ("email", email)],
            )
            .await;
        assert_eq!(p.status, 200);
        answers.push(p.body);
    }
    assert_eq!(answers[0], answers[1]);
    let mail = sink.wait_for_after("ann@example.com", before).await;
    let link = mail
        .link(&format!(
            "{}/password-reset/new?token=",
            app.state.config.issuer
        ))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.mails().len(), before + 1, "{:?}", sink.mails());
    let page = anon.get(&local(&app, &link)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.hidden("token");
    let p = anon
        .post(
            "/password-reset/new",
            &[
                ("csrf", &page.hidden("csrf")),
                ("token", &token),
                ("new", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    let p = anon
        .post(
            "/password-reset/new",
            &[
                ("csrf", &page.hidden("csrf")),
                ("token", &token),
                ("new", "a brand new one"),
                ("confirm", "a brand new one"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    // Every session ended; the new password signs in, the old does not; the link is spent.
    assert_eq!(b.get("/account").await.location.as_deref(), Some("/login"));
    signed_in(&app, "ann@example.com", "a brand new one").await;
    assert_eq!(anon.get(&local(&app, &link)).await.status, 404);
    assert!(kinds(&app)
        .await
        .contains(&"person.email_verified".to_owned()));

    // A second link so soon is not sent (the answer is the same); nor a verification link.
    let seen = sink.mails().len();
    let p = anon
        .post(
            "/password-reset",
            &[("csrf", &form.hidden("csrf")), ("email", "ann@example.com")],
        )
        .await;
    assert_eq!(p.body, answers[1]);
    let again = signed_in(&app, "ann@example.com", "a brand new one").await;
    let csrf = again.get("/account").await.hidden("csrf");
    let p = again
        .post("/account/verify-email", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(p.location.as_deref(), Some("/account?verify=soon"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.mails().len(), seen, "{:?}", sink.mails());

    // Throttled: the per-IP login policy (20 a minute) counts every request.
    let mut last = 200;
    for _ in 0..25 {
        let p = anon
            .post(
                "/password-reset",
                &[
                    ("csrf", &form.hidden("csrf")),
                    ("email", "nobody@example.com"),
                ],
            )
            .await;
        last = p.status.as_u16();
        if last == 429 {
            assert!(p.headers.contains_key("retry-after"));
            break;
        }
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn without_mail_links_cannot_be_asked_for() {
    let app = TestApp::spawn().await;
    add_person(&app, "ann@example.com", &[]).await;
    let anon = Browser::new(&app);
    let form = anon.get("/password-reset").await;
    let p = anon
        .post(
            "/password-reset",
            &[("csrf", &form.hidden("csrf")), ("email", "ann@example.com")],
        )
        .await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Mail is not set up"));
    // The login page does not offer what cannot be done.
    assert!(!anon
        .get("/login")
        .await
        .body
        .contains("id=\"forgot-password\""));
    let b = signed_in(&app, "ann@example.com", PASSWORD).await;
    let account = b.get("/account").await;
    let p = b
        .post(
            "/account/verify-email",
            &[("csrf", &account.hidden("csrf"))],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/account?verify=nomail"));
}

#[tokio::test]
async fn a_refused_mail_refuses_the_invitation_and_an_address_must_be_bare() {
    // A mail server that refuses every message: the invitation is refused, no link shown.
    let refusing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = refusing.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut conn, _)) = refusing.accept().await {
            let _ = conn.write_all(b"554 no service here\r\n").await;
        }
    });
    let app = TestApp::spawn_with(|c| {
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = port;
        c.mail.tls = castellan_server::platform::mail::SmtpTls::None;
        c.mail.timeout_seconds = 2;
    })
    .await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    set_role(&app, &acme, &olga, Role::Owner).await;
    let owner = signed_in(&app, "olga@example.com", PASSWORD).await;
    let csrf = owner.get("/account/members").await.hidden("csrf");
    let p = owner
        .post(
            "/account/members/invite",
            &[
                ("csrf", csrf.as_str()),
                ("organization", acme.as_str()),
                ("email", "victim@example.com"),
                ("role", "OWNER"),
            ],
        )
        .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("the mail could not be sent"), "{}", p.body);
    assert!(!p.body.contains("/invitation?token="));
    assert!(app
        .store
        .pending_invitations(&acme, chrono::Utc::now())
        .await
        .unwrap()
        .is_empty());
    // An address with a display name around another one, or an IP domain, is not an address.
    let p = owner
        .post(
            "/account/members/invite",
            &[
                ("csrf", csrf.as_str()),
                ("organization", acme.as_str()),
                ("email", "x<eve@example.com>"),
                ("role", "VIEWER"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("not an email address"), "{}", p.body);
    let p = owner
        .post(
            "/account/members/invite",
            &[
                ("csrf", csrf.as_str()),
                ("organization", acme.as_str()),
                ("email", "admin@10.0.0.1"),
                ("role", "VIEWER"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("not an email address"), "{}", p.body);
}

#[tokio::test]
async fn an_invitation_dies_with_its_owners_role_and_an_undelivered_one_verifies_nothing() {
    let app = TestApp::spawn().await;
    let (olga, orgs) = add_person(&app, "olga@example.com", &["Acme"]).await;
    let acme = orgs[0].clone();
    set_role(&app, &acme, &olga, Role::Owner).await;
    let (other_owner, _) = add_person(&app, "otto@example.com", &[]).await;
    set_role(&app, &acme, &other_owner, Role::Owner).await;
    let owner = signed_in(&app, "olga@example.com", PASSWORD).await;
    let csrf = owner.get("/account/members").await.hidden("csrf");
    let mut links = Vec::new();
    for email in ["alt@example.com", "newbie@example.com"] {
        let shown = owner
            .post(
                "/account/members/invite",
                &[
                    ("csrf", csrf.as_str()),
                    ("organization", acme.as_str()),
                    ("email", email),
                    ("role", "OWNER"),
                ],
            )
            .await;
        assert_eq!(shown.status, 200, "{}", shown.body);
        let i = shown.body.find("id=\"new-key\"").unwrap();
        let rest = &shown.body[i..];
        let v = rest.find("value=\"").unwrap() + 7;
        links.push(local(
            &app,
            &unescape(&rest[v..v + rest[v..].find('"').unwrap()]),
        ));
    }
    // An account set up on a link the OWNER handed on is not verified.
    let b = Browser::new(&app);
    let page = b.get(&links[1]).await;
    let token = page.hidden("token");
    let p = b
        .post(
            "/invitation/join",
            &[
                ("csrf", page.hidden("csrf").as_str()),
                ("token", token.as_str()),
                ("name", "Newbie"),
                ("password", "a good password"),
                ("confirm", "a good password"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let newbie = app
        .store
        .find_user_by_email("newbie@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newbie.email_verified_at, None);
    // Olga is demoted by the other OWNER: her pending invitation is shown no more, and gives
    // nothing when posted.
    let b = Browser::new(&app);
    let page = b.get(&links[0]).await;
    let token = page.hidden("token");
    let csrf = page.hidden("csrf");
    set_role(&app, &acme, &olga, Role::Viewer).await;
    let dead = b.get(&links[0]).await;
    assert_eq!(dead.status, 404);
    assert!(dead.body.contains("This link no longer works"));
    assert!(app
        .store
        .pending_invitations(&acme, chrono::Utc::now())
        .await
        .unwrap()
        .is_empty());
    let p = b
        .post(
            "/invitation/join",
            &[
                ("csrf", csrf.as_str()),
                ("token", token.as_str()),
                ("name", "Alt"),
                ("password", "a good password"),
                ("confirm", "a good password"),
            ],
        )
        .await;
    assert_eq!(p.status, 404, "{}", p.body);
    assert!(app
        .store
        .find_user_by_email("alt@example.com")
        .await
        .unwrap()
        .is_none());
}
