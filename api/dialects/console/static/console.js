// Gatehouse console: small additions on top of pages that work without script.
"use strict";

// Until the read service serves the last change, ask every second (then stop).
function watchServing(el) {
  const url = el.dataset.serving;
  let tries = 0;
  const tick = async () => {
    tries += 1;
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) {
        const s = await r.json();
        if (!s.pending) {
          el.textContent = s.since ? "The read service has served the current state since " + s.since + "." : "Not served yet.";
          return;
        }
        el.textContent = "The read service is picking up the last change…";
      }
    } catch (e) { /* offline for a moment: try again */ }
    if (tries < 60) setTimeout(tick, 1000);
  };
  tick();
}

// The minimum-version field previews who would see the update screen, as the user types.
function watchImpact(input) {
  const out = input.parentElement.querySelector("[data-impact-out]");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const v = input.value.trim();
      if (!v) { out.textContent = ""; return; }
      const r = await fetch(input.dataset.impact + "?format=json&minimum=" + encodeURIComponent(v), { credentials: "same-origin" });
      if (!r.ok) { out.textContent = "Not a version Gatehouse can compare."; return; }
      const rows = await r.json();
      if (!rows.length) { out.textContent = "No users seen in the last 30 days."; return; }
      out.textContent = rows.map((x) => x.platform + "/" + (x.environment || "(none)") + ": " + x.below + " of " + x.active + " active users would see the update screen").join("; ");
    }, 300);
  });
}

// The message editor starts with three rows; this adds more.
function extendMessages(fieldset) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Add a language";
  button.addEventListener("click", () => {
    const rows = fieldset.querySelectorAll(".row");
    const last = rows[rows.length - 1];
    const copy = last.cloneNode(true);
    const n = rows.length;
    copy.querySelectorAll("input").forEach((input) => {
      const kind = input.name.split("_")[0];
      input.name = kind + "_" + n;
      input.id = input.id.replace(/_\d+$/, "_" + n);
      input.value = "";
    });
    copy.querySelectorAll("label").forEach((label) => {
      label.htmlFor = label.htmlFor.replace(/_\d+$/, "_" + n);
      label.textContent = label.textContent.replace(/\d+$/, String(n + 1));
    });
    last.after(copy);
    copy.querySelector("input").focus();
  });
  fieldset.appendChild(button);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-serving]").forEach(watchServing);
  document.querySelectorAll("[data-impact]").forEach(watchImpact);
  document.querySelectorAll("[data-messages]").forEach(extendMessages);
});

// Uploads send the same multipart form with a progress bar; without script the form posts as it is.
function enhanceUpload(form) {
  const bar = form.querySelector("progress");
  const status = form.querySelector(".upload-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "fetch");
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        status.textContent = "Uploaded.";
        window.location.reload();
      } else {
        const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        const why = doc.querySelector(".error");
        status.textContent = "Upload refused: " + (why ? why.textContent : xhr.status);
      }
    });
    xhr.addEventListener("error", () => { status.textContent = "Upload failed: the connection was lost."; });
    xhr.send(new FormData(form));
  });
}

// A live rollout's state and share, refreshed every five seconds.
function watchRollout(el) {
  const tick = async () => {
    try {
      const r = await fetch(el.dataset.rollout, { credentials: "same-origin" });
      if (r.ok) {
        const s = await r.json();
        el.querySelector("[data-state]").textContent = s.state;
        el.querySelector("[data-share]").textContent = s.share_percent;
        // The failure-rate chart is drawn by the server: take the fresh one from the page.
        const chart = document.querySelector("[data-chart]");
        if (chart) {
          const page = await fetch(window.location.pathname, { credentials: "same-origin" });
          const fresh = new DOMParser().parseFromString(await page.text(), "text/html").querySelector("[data-chart]");
          if (fresh) chart.replaceChildren(...fresh.childNodes);
        }
        if (s.state !== "running" && s.state !== "paused") return;
      }
    } catch (e) { /* try again */ }
    setTimeout(tick, 5000);
  };
  setTimeout(tick, 5000);
}

// The ramp editor starts with three steps; this adds more (the server takes up to 20).
function extendRamp(fieldset) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Add a step";
  button.addEventListener("click", () => {
    const rows = fieldset.querySelectorAll(".row");
    if (rows.length >= 20) return;
    const copy = rows[rows.length - 1].cloneNode(true);
    const n = rows.length;
    copy.querySelectorAll("input").forEach((input) => {
      input.name = input.name.replace(/_\d+$/, "_" + n);
      input.id = input.id.replace(/_\d+$/, "_" + n);
      input.value = "";
    });
    copy.querySelectorAll("label").forEach((label) => {
      label.htmlFor = label.htmlFor.replace(/_\d+$/, "_" + n);
      label.textContent = label.textContent.replace(/Step \d+/, "Step " + (n + 1));
    });
    rows[rows.length - 1].after(copy);
    copy.querySelector("input").focus();
  });
  fieldset.appendChild(button);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-upload]").forEach(enhanceUpload);
  document.querySelectorAll("[data-rollout]").forEach(watchRollout);
  document.querySelectorAll("[data-ramp]").forEach(extendRamp);
});
