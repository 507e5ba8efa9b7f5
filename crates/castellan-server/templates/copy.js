// The copy button of a secret shown once: a new API key (account → API keys) or a new OAuth
// app's client secret (account → OAuth apps). The page works without it: the secret is in a
// read-only field (#new-key) that can be selected and copied by hand.
(function () {
  "use strict";
  var button = document.getElementById("copy-key");
  var field = document.getElementById("new-key");
  var status = document.getElementById("copy-status");
  if (!button || !field || !status) {
    return;
  }
  function done(copied) {
    status.textContent = copied
      ? "Copied."
      : "Could not copy: select it and copy it yourself.";
  }
  function selectAndCopy() {
    field.focus();
    field.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (e) {
      copied = false;
    }
    done(copied);
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        done(true);
      }, selectAndCopy);
    } else {
      selectAndCopy();
    }
  });
})();
