// The passkey buttons of the login, second-factor and passkeys pages. Each passkey form
// (form[data-passkey]) is posted twice: first to its data-passkey-options path, which answers
// the WebAuthn options as JSON ({"ceremony": …, "publicKey": …}); the browser's authenticator
// is asked with them; then the form itself is submitted with the ceremony and the
// authenticator's answer (as JSON) in its hidden fields, and the server answers with a page.
// Without JavaScript, or in a browser without WebAuthn, the buttons stay hidden.
(function () {
  "use strict";
  var supported =
    window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";
  var forms = document.querySelectorAll("form[data-passkey]");
  Array.prototype.forEach.call(forms, function (form) {
    var button = form.querySelector("button[type=submit]");
    var status = form.querySelector("[data-passkey-status]");
    var missing = form.querySelector("[data-passkey-missing]");
    if (!supported || !button) {
      return;
    }
    button.hidden = false;
    if (missing) {
      missing.hidden = true;
    }
    function say(text) {
      if (status) {
        status.textContent = text;
      }
    }
    var answered = false;
    form.addEventListener("submit", function (event) {
      if (answered) {
        return;
      }
      event.preventDefault();
      button.disabled = true;
      say("Asking your passkey…");
      var body = new URLSearchParams(new FormData(form));
      fetch(form.getAttribute("data-passkey-options"), {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (res) {
          var type = res.headers.get("Content-Type") || "";
          if (type.indexOf("application/json") !== 0) {
            // A page (a refused form, an unavailable server), not the options.
            throw new Error(
              res.status === 403
                ? "The page is out of date; reload it and try again."
                : "The passkey request could not be made; try again later."
            );
          }
          return res.json().then(function (json) {
            if (!res.ok) {
              throw new Error(json.error || "The passkey request was refused.");
            }
            return json;
          });
        })
        .then(function (options) {
          var create = form.getAttribute("data-passkey") === "create";
          var asked = create
            ? navigator.credentials.create({
                publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey),
              })
            : navigator.credentials.get({
                publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
              });
          return asked.then(function (credential) {
            if (!credential) {
              throw new Error("No passkey was chosen.");
            }
            form.elements.ceremony.value = options.ceremony;
            form.elements.credential.value = JSON.stringify(credential.toJSON());
            // The password was checked with the options; it is not sent again.
            if (form.elements.password) {
              form.elements.password.value = "";
            }
            answered = true;
            say("Checking…");
            form.submit();
          });
        })
        .catch(function (e) {
          button.disabled = false;
          say(
            e && e.name === "NotAllowedError"
              ? "The passkey was not used (cancelled, timed out, or none is registered here)."
              : (e && e.message) || "The passkey could not be used."
          );
        });
    });
  });
})();
