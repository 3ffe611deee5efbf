// partnermatch school page: record "interested" / "not for us" without reloading (the forms work without it too).
(function () {
  "use strict";

  function say(el, text) {
    el.textContent = "";
    if (text) {
      var p = document.createElement("p");
      p.textContent = text;
      el.appendChild(p);
    }
  }

  function status(text) { say(document.getElementById("status"), text); }
  function alertText(text) { say(document.getElementById("alert"), text); }

  function decline(card) {
    var next = card.nextElementSibling || card.previousElementSibling;
    card.remove();
    var note = document.getElementById("hidden-note");
    var text = document.querySelector("[data-role=hidden-text]");
    if (note && text) {
      var n = Number(note.dataset.count || (note.hidden ? 0 : parseInt(text.textContent, 10))) + 1;
      note.dataset.count = String(n);
      text.textContent = n + (n === 1 ? " school" : " schools") + " you marked \u201cnot for us\u201d " +
        (n === 1 ? "is" : "are") + " hidden.";
      note.hidden = false;
    }
    var target = next ? next.querySelector(".card-title") : document.getElementById("candidates-heading");
    if (target) { target.focus(); }
  }

  function accept(card, form) {
    card.classList.add("is-interested");
    card.classList.remove("is-declined");
    card.dataset.decision = "accept";
    var badge = card.querySelector("[data-role=badge]");
    if (badge) { badge.textContent = "Interested"; badge.hidden = false; }
    var yes = form.querySelector("button[value=accept]");
    var no = form.querySelector("button[value=decline]");
    if (no) { no.focus(); }
    if (yes) { yes.remove(); }
  }

  // wide screens show the filters beside the list; phones keep them folded until asked
  var details = document.getElementById("filters-details");
  if (details && window.matchMedia && window.matchMedia("(min-width: 60rem)").matches) { details.open = true; }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("feedback-form") || !window.fetch) { return; }
    event.preventDefault();
    var button = event.submitter;
    var data = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { data.append(key, value); });
    if (button && button.name) { data.set(button.name, button.value); }
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    alertText("");
    var card = form.closest(".card");
    var name = card ? card.querySelector(".card-title").textContent.replace(/^Number \d+: /, "") : "this school";
    fetch(form.action, {
      method: "POST",
      body: data,
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok || !body.ok) {
          throw new Error(body.detail || ("the server answered " + response.status));
        }
        return body;
      });
    }).then(function (body) {
      buttons.forEach(function (b) { b.disabled = false; });
      status(body.message);
      if (body.decision === "decline") { decline(card); } else { accept(card, form); }
    }).catch(function (error) {
      buttons.forEach(function (b) { b.disabled = false; });
      var why = error instanceof TypeError ? "the server could not be reached" : error.message;
      alertText("Could not record your choice for " + name + ": " + why + ". Please try again.");
    });
  });
})();
