// The template editor's preview: follows the text as the admin types, and keeps the line numbers.
// Served from the package under script-src 'self'; sets text only (textContent, srcdoc), never
// markup of the page, and the email's HTML goes to an iframe sandboxed with no permissions.
"use strict";
(function () {
  const form = document.getElementById("editor");
  if (!form) return;
  const text = document.getElementById("text");
  const gutter = document.getElementById("gutter");
  const ticket = document.getElementById("pv-ticket");
  const customer = document.getElementById("pv-customer");
  const state = document.getElementById("pv-state");
  const error = document.getElementById("pv-error");
  const headers = document.getElementById("pv-headers");
  const plain = document.getElementById("pv-text");
  const frame = document.getElementById("pv-html");
  const csrf = form.querySelector("input[name=csrf]").value;
  const marks = new Set((gutter.dataset.marks || "").split(",").filter(Boolean).map(Number));
  const WAIT_MS = 300; // a pause in the typing, not every key
  const SHOWN = ["From", "To", "Subject"]; // as editor_pages.SHOWN_HEADERS
  let timer = null;
  let asked = 0;

  function numbers() {
    const count = text.value.split("\n").length;
    gutter.textContent = "";
    for (let n = 1; n <= count; n++) {
      if (n > 1) gutter.appendChild(document.createTextNode("\n"));
      if (marks.has(n)) {
        const b = document.createElement("b");
        b.textContent = "\u25B6" + n;
        gutter.appendChild(b);
      } else {
        gutter.appendChild(document.createTextNode(String(n)));
      }
    }
    gutter.scrollTop = text.scrollTop;
  }

  function show(answer) {
    if (!answer.ok) {
      error.hidden = false;
      error.querySelector("pre").textContent = answer.error;
      state.textContent = "does not render";
      return;
    }
    error.hidden = true;
    headers.textContent = "";
    for (const [name, value] of answer.headers) {
      if (!SHOWN.includes(name)) continue;
      const row = headers.insertRow();
      const th = document.createElement("th");
      th.textContent = name;
      row.appendChild(th);
      row.insertCell().textContent = value;
    }
    plain.textContent = answer.text;
    frame.srcdoc = answer.html;
    state.textContent = "preview of the text above";
  }

  async function preview() {
    const mine = ++asked;
    state.textContent = "updating";
    const body = new URLSearchParams({csrf: csrf, text: text.value, ticket: ticket.value, customer: customer.value});
    try {
      const reply = await fetch(form.dataset.preview, {method: "POST", body: body, credentials: "same-origin",
                                                       headers: {"Accept": "application/json"}});
      const answer = await reply.json();
      if (mine === asked) show(answer); // an older answer never overwrites a newer one
    } catch (e) {
      if (mine === asked) state.textContent = "preview unavailable";
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(preview, WAIT_MS);
  }

  text.addEventListener("input", function () { numbers(); later(); });
  text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
  ticket.addEventListener("change", preview);
  customer.addEventListener("change", preview);
  numbers();
})();
