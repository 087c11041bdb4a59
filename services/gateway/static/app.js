// Operator page: recent alerts with their clips, cameras, a test-refund form.
// Plain DOM, no build step; data is proto3 JSON from /api/v1 (see /docs).
"use strict";

const REFRESH_MS = 3000;
const API = "/api/v1";
const KEY_STORE = "eventclip-api-key"; // sessionStorage: gone when the tab closes

function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

// fetch() with the API key the operator signed in with. A 401 (no key, or a
// revoked one) shows the sign-in form again.
async function authorizedFetch(url, options = {}) {
  const headers = new Headers(options.headers || {});
  if (apiKey()) headers.set("Authorization", `Bearer ${apiKey()}`);
  const response = await fetch(url, { ...options, headers });
  if (response.status === 401) showSignIn(true);
  return response;
}

async function getJson(url, options) {
  const response = await authorizedFetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (body.error && body.error.message) || response.statusText;
    throw new Error(`${response.status}: ${message}`);
  }
  return body;
}

function withParam(url, name, value) {
  return `${url}${url.includes("?") ? "&" : "?"}${name}=${encodeURIComponent(value)}`;
}

// What needs the key in a header (the audit trail, the evidence package):
// fetch it and hand the browser an object URL of the bytes.
async function mediaUrl(url) {
  const response = await authorizedFetch(url);
  if (!response.ok) throw new Error(`${response.status}: ${url}`);
  return URL.createObjectURL(await response.blob());
}

function mediaLink(url, text, filename) {
  return el("a", {
    href: "#",
    textContent: text,
    onclick: async (click) => {
      click.preventDefault();
      try {
        const link = el("a", { href: await mediaUrl(url), target: "_blank" });
        if (filename) link.download = filename;
        link.click();
      } catch (err) {
        click.target.textContent = `${text} (${err.message})`;
      }
    },
  });
}

function showSignIn(needed) {
  document.getElementById("sign-in").hidden = !needed;
  document.getElementById("sign-out").hidden = needed || !apiKey();
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

// A proto3 JSON Duration ("2.933333333s") as "2.9 s".
function seconds(duration) {
  return `${parseFloat(duration || "0").toFixed(1)} s`;
}

function badge(state) {
  return el("span", { className: `badge state-${state}`, textContent: state });
}

function renderCameras(cameras) {
  const list = document.getElementById("cameras");
  list.replaceChildren(
    ...cameras.map((camera) =>
      el(
        "li",
        {},
        el("strong", { textContent: camera.id }),
        " ",
        badge(camera.state),
        el("div", {
          textContent:
            `${(camera.fps || 0).toFixed(1)} fps, ` +
            `${seconds(camera.bufferedDuration)} buffered` +
            (camera.statusMessage ? ` — ${camera.statusMessage}` : ""),
        }),
      ),
    ),
  );
}

// Seconds of the requested window the media lacks (sum of the clip's gaps).
function missingSeconds(clip) {
  return (clip.gaps || []).reduce(
    (sum, gap) => sum + (Date.parse(gap.endTime) - Date.parse(gap.startTime)) / 1000,
    0,
  );
}

// A clip is evidence: say plainly when its media does not cover the window.
function coverageNote(clip) {
  if (clip.complete) return el("span", { className: "note", textContent: "covers the whole window" });
  const missing = missingSeconds(clip);
  return el("span", {
    className: "badge incomplete",
    textContent: missing > 0 ? `INCOMPLETE: ${missing.toFixed(1)} s missing` : "INCOMPLETE",
    title: (clip.gaps || []).map((g) => `missing ${g.startTime} .. ${g.endTime}`).join("\n"),
  });
}

function renderClip(clip) {
  const box = el("div", { className: "clip" });
  const head = el("div", {}, badge(clip.state), ` ${clip.cameraId} `);
  if (clip.legalHold) head.append(el("span", { className: "badge hold", textContent: "LEGAL HOLD" }));
  box.append(head);
  const hasMedia = (clip.state === "READY" || clip.state === "FAILED") && clip.sizeBytes !== "0";
  if (hasMedia) {
    // Media links come signed for this key (they expire): usable as they are.
    box.append(
      coverageNote(clip),
      el("video", {
        controls: true,
        preload: "none",
        poster: clip.links.thumbnail,
        src: clip.links.video,
      }),
      el(
        "span",
        {},
        el("a", { href: withParam(clip.links.video, "download", "1"), textContent: `MP4, ${seconds(clip.duration)}` }),
        " · ",
        el("a", { href: clip.links.metadata, textContent: "metadata" }),
        " · ",
        mediaLink(clip.links.audit, "audit trail"),
      ),
    );
  }
  if (clip.state === "FAILED") {
    box.append(el("span", { className: "error", textContent: clip.failureReason }));
  } else if (clip.state === "DELETED") {
    const when = clip.deleteTime ? new Date(clip.deleteTime).toLocaleString() : "";
    box.append(
      el("span", { className: "note", textContent: `media deleted by retention ${when}` }),
      mediaLink(clip.links.audit, "audit trail"),
    );
  } else if (clip.state === "CANCELLED") {
    box.append(el("span", { className: "note", textContent: "cancelled: no media" }));
  }
  return box;
}

// Alert cards are rebuilt only when their clips change, so a playing video is
// not reset by the refresh.
const rendered = new Map(); // alert id -> {signature, node}

function renderAlerts(alerts, clipsByAlert) {
  const template = document.getElementById("alert-template");
  const nodes = alerts.map((alert) => {
    const clips = clipsByAlert.get(alert.id) || [];
    // Rebuilt every 10 min too: the signed media links in a card expire.
    const signature = JSON.stringify([
      Math.floor(Date.now() / 600000),
      clips.map((c) => [c.id, c.state, c.complete, c.legalHold, (c.gaps || []).length]),
    ]);
    const cached = rendered.get(alert.id);
    if (cached && cached.signature === signature) return cached.node;
    const node = template.content.firstElementChild.cloneNode(true);
    node.querySelector(".risk").textContent = `risk ${alert.riskScore.toFixed(2)}`;
    const event = alert.event || {};
    const amount = event.amount ? ` ${event.amount.units} ${event.amount.currencyCode}` : "";
    node.querySelector(".where").textContent =
      `${event.type || ""}${amount} — store ${alert.storeId}, register ${alert.registerId}`;
    node.querySelector(".when").textContent = new Date(alert.occurredAt).toLocaleString();
    node.querySelector(".reasons").replaceChildren(
      ...alert.reasons.map((r) => el("li", { textContent: `${r.rule} (${r.score}): ${r.reason}` })),
    );
    node.querySelector(".clips").replaceChildren(...clips.map(renderClip));
    if (clips.some((c) => c.state === "READY")) {
      node.querySelector(".evidence").replaceChildren(
        mediaLink(
          `${API}/alerts/${encodeURIComponent(alert.id)}/evidence.zip`,
          "Signed evidence package (ZIP)",
          `evidence-${alert.id}.zip`,
        ),
      );
    }
    rendered.set(alert.id, { signature, node });
    return node;
  });
  document.getElementById("alerts").replaceChildren(...nodes);
}

async function refresh() {
  const errorBox = document.getElementById("alerts-error");
  try {
    const [alerts, clips] = await Promise.all([
      getJson(`${API}/alerts?pageSize=20`),
      getJson(`${API}/clips?pageSize=200`),
    ]);
    const clipsByAlert = new Map();
    for (const clip of clips.clips) {
      if (!clip.alertId) continue;
      if (!clipsByAlert.has(clip.alertId)) clipsByAlert.set(clip.alertId, []);
      clipsByAlert.get(clip.alertId).push(clip);
    }
    renderAlerts(alerts.alerts, clipsByAlert);
    errorBox.hidden = true;
  } catch (err) {
    errorBox.textContent = err.message;
    errorBox.hidden = false;
  }
  getJson(`${API}/cameras`).then((r) => renderCameras(r.cameras), () => {});
  const health = document.getElementById("health");
  fetch("/healthz")
    .then((r) => r.json().then((body) => [r.ok, body]))
    .then(([ok, body]) => {
      health.textContent = ok ? "all services up" : `down: ${Object.entries(body.services)
        .filter(([, status]) => status !== "SERVING").map(([name]) => name).join(", ")}`;
      health.className = `badge ${ok ? "ok" : "bad"}`;
    })
    .catch(() => {
      health.textContent = "gateway unreachable";
      health.className = "badge bad";
    });
}

document.getElementById("refund-form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = new FormData(submit.target);
  const output = document.getElementById("refund-result");
  const event = {
    eventId: `web-${Date.now()}-${Math.random().toString(16).slice(2, 8)}`,
    type: "REFUND",
    storeId: "web",
    registerId: form.get("registerId"),
    operatorId: "operator-page",
    approverId: form.get("approverId") || "",
    amount: { currencyCode: "USD", units: String(form.get("amount")), nanos: 0 },
    transactionId: `tx-${Date.now()}`,
    occurredAt: new Date().toISOString(),
  };
  try {
    const reply = await getJson(`${API}/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(event),
    });
    const risk = reply.assessment.riskScore.toFixed(2);
    output.className = "";
    output.textContent = reply.alert
      ? `Risk ${risk}: alert ${reply.alert.id} raised, ${reply.clipIds.length} clip(s) requested.`
      : `Risk ${risk}: below the threshold ${reply.assessment.threshold}, no alert.`;
    refresh();
  } catch (err) {
    output.className = "error";
    output.textContent = err.message;
  }
});

document.getElementById("sign-in-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  const key = new FormData(submit.target).get("apiKey").trim();
  if (key) sessionStorage.setItem(KEY_STORE, key);
  submit.target.reset();
  showSignIn(false);
  rendered.clear();
  refresh();
});

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORE);
  rendered.clear();
  showSignIn(true);
});

showSignIn(false);
refresh();
setInterval(refresh, REFRESH_MS);
