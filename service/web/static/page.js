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
  var alertBox = document.getElementById("alert") || document.createElement("div");

  function decline(card) {
    var next = card.nextElementSibling || card.previousElementSibling;
    card.remove();
    var note = document.getElementById("hidden-note");
    var text = document.querySelector("[data-role=hidden-text]");
    if (note && text) {
      // the count, then the sentence in the page language: one form per plural category (data-text-one, ...)
      var n = Number(note.dataset.count || (note.hidden ? 0 : note.dataset.shown || 0)) + 1;
      note.dataset.count = String(n);
      var category = window.Intl && Intl.PluralRules ? new Intl.PluralRules(document.documentElement.lang).select(n) : "other";
      var form = note.dataset["text" + category.charAt(0).toUpperCase() + category.slice(1)] || note.dataset.textOther;
      text.textContent = form.replace("{n}", String(n));
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
    if (badge) { badge.textContent = badge.dataset.interested; badge.hidden = false; }
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
    var link = card ? card.querySelector(".card-title a") : null;
    var name = link ? link.textContent : "";
    fetch(form.action, {
      method: "POST",
      body: data,
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok || !body.ok) {
          throw new Error(body.detail || alertBox.dataset.answered.replace("{status}", response.status));
        }
        return body;
      });
    }).then(function (body) {
      buttons.forEach(function (b) { b.disabled = false; });
      status(body.message);
      if (body.decision === "decline") { decline(card); } else { accept(card, form); }
    }).catch(function (error) {
      buttons.forEach(function (b) { b.disabled = false; });
      var why = error instanceof TypeError ? alertBox.dataset.unreachable : error.message;
      alertText(alertBox.dataset.failed.replace("{name}", name).replace("{why}", why));
    });
  });
})();
